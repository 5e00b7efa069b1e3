"""``imageaccess authz install`` and ``serve``'s configuration: what is written, what is refused."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from policies.enforcers.cli import build_parser
from policies.enforcers.cli.authz import ConfigError, build_plugin, run_install, run_serve

TOKEN = "dckr_pat_" + "t" * 27


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["authz", *argv])


def test_install_writes_the_spec_and_prints_the_daemon_json_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse("install", "--spec-dir", str(tmp_path), "--socket", "/run/ia/p.sock")
    assert run_install(args) == 0
    assert (tmp_path / "imageaccess.spec").read_text() == "unix:///run/ia/p.sock\n"
    assert '"authorization-plugins": ["imageaccess"]' in capsys.readouterr().out


def test_install_for_tcp_and_the_default_socket(tmp_path: Path) -> None:
    assert (
        run_install(parse("install", "--spec-dir", str(tmp_path), "--listen", "127.0.0.1:7777"))
        == 0
    )
    assert (tmp_path / "imageaccess.spec").read_text() == "tcp://127.0.0.1:7777\n"
    assert run_install(parse("install", "--spec-dir", str(tmp_path), "--name", "ia2")) == 0
    assert (tmp_path / "ia2.spec").read_text() == "unix:///run/docker/plugins/imageaccess.sock\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--listen", "nowhere"), "invalid --listen"),
        (("--name", "../etc"), "invalid --name"),
    ],
)
def test_install_refuses_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    assert run_install(parse("install", "--spec-dir", str(tmp_path), *argv)) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"IMAGEACCESS_TOKEN": TOKEN}, "IMAGEACCESS_URL is not set"),
        ({"IMAGEACCESS_URL": "https://ia.example.com"}, "IMAGEACCESS_TOKEN is not set"),
        ({"IMAGEACCESS_URL": "ftp://ia", "IMAGEACCESS_TOKEN": TOKEN}, "invalid server URL"),
        (
            {"IMAGEACCESS_URL": "https://ia", "IMAGEACCESS_TOKEN": "a b"},
            "spaces or control characters",
        ),
        (
            {
                "IMAGEACCESS_URL": "https://ia",
                "IMAGEACCESS_TOKEN": TOKEN,
                "IMAGEACCESS_ORGS": "a,b c",
            },
            "is not an organization slug",
        ),
        (
            {"IMAGEACCESS_URL": "https://ia", "IMAGEACCESS_TOKEN_FILE": "/nonexistent/token"},
            "IMAGEACCESS_TOKEN_FILE: cannot read",
        ),
    ],
)
def test_serve_refuses_an_unusable_configuration(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_plugin(parse("serve"), environ)


def test_serve_exits_2_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_serve(parse("serve", "--socket", "/nonexistent/x.sock"), {}) == 2
    assert "IMAGEACCESS_URL is not set" in capsys.readouterr().err


def test_serve_reads_the_token_file_and_the_organizations(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    environ = {
        "IMAGEACCESS_URL": "https://ia.example.com/",
        "IMAGEACCESS_TOKEN_FILE": str(token_file),
        "IMAGEACCESS_ORGS": "acme, globex,acme",
    }
    plugin = build_plugin(parse("serve", "--docker-host", "unix:///run/docker.sock"), environ)
    assert plugin.decisions.server == "https://ia.example.com"
    assert plugin.decisions._token == TOKEN
    assert plugin.decisions._orgs == ["acme", "globex"]
    assert plugin.settings.docker_socket == "/run/docker.sock"
    assert (
        build_plugin(parse("serve", "--docker-host", "none"), environ).settings.docker_socket
        is None
    )
