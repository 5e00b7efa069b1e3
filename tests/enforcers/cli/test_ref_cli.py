"""Tests for ``imageaccess ref``: JSON and text output, exit codes, and no Django import."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from policies.enforcers.cli import ref as ref_cli

SHA = "sha256:" + "a" * 64
REPO_ROOT = Path(__file__).resolve().parents[3]


def _parser() -> argparse.ArgumentParser:
    # The ref subcommand alone, as the dispatcher registers it.
    parser = argparse.ArgumentParser(prog="imageaccess")
    subparsers = parser.add_subparsers(dest="command", required=True)
    ref_cli.add_parser(subparsers)
    return parser


def _run(argv: list[str]) -> tuple[int, list[str]]:
    args = _parser().parse_args(argv)
    out = io.StringIO()
    code = args.func(args, stdout=out)
    return code, out.getvalue().splitlines()


def test_json_output_for_a_familiar_name() -> None:
    code, lines = _run(["ref", "--json", "nginx"])
    assert code == 0
    assert [json.loads(line) for line in lines] == [
        {
            "input": "nginx",
            "valid": True,
            "name": "docker.io/library/nginx",
            "domain": "docker.io",
            "path": "library/nginx",
            "tag": None,
            "digest": None,
            "familiar": "nginx",
            "reference": "docker.io/library/nginx:latest",
            "error": None,
        }
    ]


def test_json_reports_given_tag_and_digest_but_reference_keeps_only_digest() -> None:
    code, lines = _run(["ref", "--json", f"index.docker.io/org/app:1.0@{SHA}"])
    assert code == 0
    result = json.loads(lines[0])
    assert result["name"] == "docker.io/org/app"
    assert result["familiar"] == "org/app"
    assert (result["tag"], result["digest"]) == ("1.0", SHA)
    assert result["reference"] == f"docker.io/org/app@{SHA}"


def test_json_for_invalid_input_has_only_the_error() -> None:
    code, lines = _run(["ref", "--json", "Foo"])
    assert code == 1
    assert json.loads(lines[0]) == {
        "input": "Foo",
        "valid": False,
        "name": None,
        "domain": None,
        "path": None,
        "tag": None,
        "digest": None,
        "familiar": None,
        "reference": None,
        "error": "invalid reference format: repository name (library/Foo) must be lowercase",
    }


def test_one_json_line_per_input_in_order_and_exit_1_if_any_invalid() -> None:
    # "--" lets a reference that starts with "-" through argparse.
    code, lines = _run(["ref", "--json", "nginx", "ghcr.io/o/r:v1", "--", "-bad"])
    assert code == 1
    results = [json.loads(line) for line in lines]
    assert [item["input"] for item in results] == ["nginx", "ghcr.io/o/r:v1", "-bad"]
    assert [item["valid"] for item in results] == [True, True, False]
    assert results[2]["error"] == "invalid reference format"


def test_text_output_single_reference() -> None:
    assert _run(["ref", "nginx"]) == (0, ["nginx -> docker.io/library/nginx:latest"])


def test_text_output_aligns_results_and_errors() -> None:
    code, lines = _run(["ref", "nginx", "Foo", "registry-1.docker.io/x"])
    assert code == 1
    assert lines == [
        "nginx                  -> docker.io/library/nginx:latest",
        "Foo:                      invalid reference format: repository name (library/Foo) "
        "must be lowercase",
        "registry-1.docker.io/x -> registry-1.docker.io/x:latest",
    ]
    # Results and error messages start in the same column.
    assert lines[0].index("docker.io") == lines[1].index("invalid")


def test_text_output_quotes_inputs_that_would_break_the_line() -> None:
    code, lines = _run(["ref", "ngi\nnx"])
    assert code == 1
    assert lines == ['"ngi\\nnx":   invalid reference format']


def test_missing_reference_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(["ref"])
    assert info.value.code == 2


def test_unknown_option_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(["ref", "--yaml", "nginx"])
    assert info.value.code == 2


def test_run_writes_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["ref", "alpine:3"])
    assert ref_cli.run(args) == 0
    assert capsys.readouterr().out == "alpine:3 -> docker.io/library/alpine:3\n"


def test_ref_command_does_not_import_django() -> None:
    code = (
        "import sys, policies.enforcers.cli.ref, policies.engine.reference\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'django')\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


def test_main_dispatches_ref(capsys: pytest.CaptureFixture[str]) -> None:
    from policies.enforcers.cli import main

    assert main(["ref", "--json", "nginx", "busybox:1.36"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [item["reference"] for item in results] == [
        "docker.io/library/nginx:latest",
        "docker.io/library/busybox:1.36",
    ]
    assert main(["ref", "UPPER"]) == 1
