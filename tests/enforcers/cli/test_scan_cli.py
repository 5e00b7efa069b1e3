"""`imageaccess scan`: output formats, options and exit codes, run without Django."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from policies.enforcers.cli import scan as scan_cli

SCHEMA = {
    "type": "object",
    "required": ["images", "errors"],
    "additionalProperties": False,
    "properties": {
        "images": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["image", "reference", "file", "line", "kind"],
                "additionalProperties": False,
                "properties": {
                    "image": {"type": "string"},
                    "reference": {"type": ["string", "null"]},
                    "file": {"type": "string"},
                    "line": {"type": "integer", "minimum": 1},
                    "kind": {
                        "enum": [
                            "syntax",
                            "from",
                            "copy-from",
                            "mount-from",
                            "compose",
                            "cache-from",
                        ]
                    },
                },
            },
        },
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["file", "line", "message"],
                "additionalProperties": False,
                "properties": {
                    "file": {"type": "string"},
                    "line": {"type": ["integer", "null"]},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text(
        "ARG TAG=3.19\nFROM alpine:${TAG} AS base\nCOPY --from=nginx:1.27 /etc/nginx /n\n"
    )
    (tmp_path / "compose.yaml").write_text(
        "services:\n  cache:\n    image: redis:${REDIS:-7}\n  dbg:\n    image: busybox\n"
        "    profiles: [debug]\n"
    )
    return tmp_path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = scan_cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_matches_schema_and_normalises_references(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS", raising=False)
    code, out, _ = run(["--json", str(project)], capsys)
    payload = json.loads(out)
    jsonschema.validate(payload, SCHEMA)
    assert code == 0
    assert [(i["image"], i["reference"], i["line"], i["kind"]) for i in payload["images"]] == [
        ("redis:7", "docker.io/library/redis:7", 3, "compose"),
        ("busybox", "docker.io/library/busybox:latest", 5, "compose"),
        ("alpine:3.19", "docker.io/library/alpine:3.19", 2, "from"),
        ("nginx:1.27", "docker.io/library/nginx:1.27", 3, "copy-from"),
    ]
    assert payload["errors"] == []


def test_text_output_lists_file_line_kind_image(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run([str(project / "Dockerfile")], capsys)
    assert code == 0
    assert out.splitlines() == [
        f"{project / 'Dockerfile'}:2: from alpine:3.19",
        f"{project / 'Dockerfile'}:3: copy-from nginx:1.27",
    ]


def test_errors_exit_two_and_are_printed_after_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM alpine\nCOPY --from=$X / /\n")
    code, out, _ = run([str(dockerfile)], capsys)
    assert code == 2
    lines = out.splitlines()
    assert lines[0] == f"{dockerfile}:1: from alpine"
    assert lines[1].startswith(f"{dockerfile}:2: error: variable expansion is not supported")


def test_json_errors_carry_file_line_and_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope")
    code, out, _ = run(["--json", missing], capsys)
    assert code == 2
    payload = json.loads(out)
    jsonschema.validate(payload, SCHEMA)
    assert payload["errors"] == [
        {"file": missing, "line": None, "message": "no such file or directory"}
    ]


def test_build_arg_platform_profile_and_env_file_options(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS", raising=False)
    (project / "Dockerfile").write_text("ARG TAG=1\nFROM alpine:${TAG}-${TARGETARCH}\n")
    env_file = project / "ci.env"
    env_file.write_text("REDIS=6\n")
    argv = [
        "--json",
        "--build-arg",
        "TAG=3.20",
        "--platform",
        "linux/arm64",
        "--profile",
        "none",
        "--env-file",
        str(env_file),
        str(project),
    ]
    code, out, _ = run(argv, capsys)
    assert code == 0
    images = [i["image"] for i in json.loads(out)["images"]]
    assert images == ["redis:6", "alpine:3.20-arm64"]  # busybox is in an unselected profile


def test_build_arg_without_value_reads_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Dockerfile").write_text("ARG TAG=1\nFROM alpine:$TAG\n")
    monkeypatch.setenv("TAG", "edge")
    code, out, _ = run(["--build-arg", "TAG", str(tmp_path)], capsys)
    assert code == 0
    assert out.strip().endswith("from alpine:edge")


@pytest.mark.parametrize("argv", [["--build-arg", "=x", "."], ["--platform", "amd64", "."], []])
def test_bad_input_exits_two(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2
    assert err


def test_add_parser_registers_scan_with_run_as_func() -> None:
    parser = argparse.ArgumentParser(prog="imageaccess")
    sub = parser.add_subparsers(dest="command", required=True)
    scan_cli.add_parser(sub)
    args = parser.parse_args(["scan", "--json", "--profile", "a", "--profile", "b", "x", "y"])
    assert args.func is scan_cli.run
    assert args.paths == ["x", "y"]
    assert args.profile == ["a", "b"]
    assert args.json is True
    assert args.platform == "linux/amd64"


def test_module_runs_without_django(project: Path) -> None:
    # A fresh interpreter that would fail loudly if anything imported Django.
    code = (
        "import sys, builtins\n"
        "real = builtins.__import__\n"
        "def guard(name, *a, **k):\n"
        "    if name == 'django' or name.startswith('django.'):\n"
        "        raise ImportError('django imported')\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = guard\n"
        "from policies.enforcers.cli.scan import main\n"
        f"sys.exit(main(['--json', {str(project)!r}]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["errors"] == []


DOCKER_HUB_SPELLINGS = [
    (
        "REGISTRY-1.DOCKER.IO/someuser/custom-image",
        "REGISTRY-1.DOCKER.IO/someuser/custom-image:latest",
    ),
    (
        "registry-1.docker.io:443/someuser/custom-image",
        "registry-1.docker.io:443/someuser/custom-image:latest",
    ),
    ("Index.Docker.IO/someuser/custom-image", "Index.Docker.IO/someuser/custom-image:latest"),
    ("index.docker.io/someuser/custom-image", "docker.io/someuser/custom-image:latest"),
    (
        "registry.hub.docker.com/someuser/custom-image",
        "registry.hub.docker.com/someuser/custom-image:latest",
    ),
]


def test_docker_hub_spellings_are_printed_exactly_as_docker_parses_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("".join(f"FROM {image}\n" for image, _ in DOCKER_HUB_SPELLINGS))
    code, out, _ = run(["--json", str(dockerfile)], capsys)
    assert code == 0, out
    payload = json.loads(out)
    assert [(i["image"], i["reference"]) for i in payload["images"]] == DOCKER_HUB_SPELLINGS


def test_compose_file_option_scans_files_merged_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yml").write_text("services:\n  web:\n    image: nginx\n")
    (tmp_path / "b.yml").write_text("services:\n  web:\n    image: someuser/custom-image\n")
    code, out, _ = run(
        ["-f", str(tmp_path / "a.yml"), "--compose-file", str(tmp_path / "b.yml")], capsys
    )
    assert code == 0, out
    assert f"{tmp_path / 'b.yml'}:3: compose someuser/custom-image" in out.splitlines()


def test_override_file_and_cache_from_are_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n")
    (tmp_path / "compose.override.yaml").write_text(
        "services:\n  web:\n    build:\n      dockerfile_inline: FROM alpine\n"
        "      cache_from: [someuser/cache:1]\n"
    )
    code, out, _ = run([str(tmp_path)], capsys)
    assert code == 0, out
    assert (
        f"{tmp_path / 'compose.override.yaml'}:5: cache-from someuser/cache:1" in out.splitlines()
    )
