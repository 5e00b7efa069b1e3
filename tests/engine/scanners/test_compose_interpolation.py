"""Compose interpolation and dotenv parsing match compose-go (cases restated from its tests)."""

from __future__ import annotations

import pytest

from policies.engine.scanners.compose import (
    DotenvError,
    InterpolationError,
    load_compose_env,
    parse_dotenv,
    substitute,
)

DEFAULTS = {"FOO": "first", "BAR": ""}
lookup = DEFAULTS.get


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$${foo}", "${foo}"),
        ("foo", "foo"),
        ("a $ string", "a $ string"),
        ("^REGEX$", "^REGEX$"),
        ("$}", "$}"),
        ("$", "$"),
        ("$FOO-bar", "first-bar"),
        ("This ${missing} var", "This  var"),
        ("This ${BAR} var", "This  var"),
        ("This $FOO var", "This first var"),
        ("ok ${missing:-def}", "ok def"),
        ("ok ${missing-def}", "ok def"),
        ("ok ${BAR:-def}", "ok def"),
        ("ok ${FOO:-def}", "ok first"),
        ("ok ${BAR-def}", "ok "),
        ("ok ${UNSET_VAR:+presence}", "ok "),
        ("ok ${UNSET_VAR+presence}", "ok "),
        ("ok ${FOO:+presence}", "ok presence"),
        ("ok ${FOO+presence}", "ok presence"),
        ("ok ${BAR+presence}", "ok presence"),
        ("ok ${BAR:+presence}", "ok "),
        ("ok ${BAR:-/non:-alphanumeric}", "ok /non:-alphanumeric"),
        ("+ok ${UNSET:-${BAR-defaultValue}}", "+ok "),
        (":-ok ${UNSET-defaultValue}", ":-ok defaultValue"),
        (":?ok ${BAR:-defaultValue}", ":?ok defaultValue"),
        ("ok ${UNSET_VAR-$FOO}", "ok first"),
        ("ok ${UNSET_VAR-${FOO} ${FOO}}", "ok first first"),
        ("ok ${BAR:-${FOO} ${FOO}}", "ok first first"),
        ("ok ${BAR+$FOO ${FOO:+second}}", "ok first second"),
        ("ok ${FOO:?err}", "ok first"),
        ("ok ${BAR?err}", "ok "),
        ("${UNSET_VAR-myerror?msg}", "myerror?msg"),
        ("${foo:-a}${FOO}", "afirst"),
        ("$1 stays", "$1 stays"),
    ],
)
def test_substitution_matches_compose_go(template: str, expected: str) -> None:
    assert substitute(template, lookup) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "not ok ${UNSET_VAR:?Mandatory Variable Unset}",
            "required variable UNSET_VAR is missing a value: Mandatory Variable Unset",
        ),
        (
            "not ok ${BAR:?Mandatory Variable Empty}",
            "required variable BAR is missing a value: Mandatory Variable Empty",
        ),
        ("not ok ${UNSET_VAR:?}", "required variable UNSET_VAR is missing a value"),
        ("not ok ${UNSET_VAR?}", "required variable UNSET_VAR is missing a value"),
        (
            "not ok ${UNSET_VAR?Mandatory ${FOO}}",
            "required variable UNSET_VAR is missing a value: Mandatory first",
        ),
        ("${UNSET_VAR?bar-baz}", "required variable UNSET_VAR is missing a value: bar-baz"),
    ],
)
def test_required_variables_raise_with_compose_message(template: str, message: str) -> None:
    with pytest.raises(InterpolationError) as info:
        substitute(template, lookup)
    assert str(info.value) == message


@pytest.mark.parametrize("template", ["${", "${}", "${ }", "${ foo}", "${foo }", "${foo!}"])
def test_invalid_templates_raise(template: str) -> None:
    with pytest.raises(InterpolationError, match="Invalid template"):
        substitute(template, lookup)


def test_dotenv_supports_comments_quotes_export_and_expansion() -> None:
    text = (
        "# comment\n"
        "export A=1\n"
        "B = 'single $A'\n"
        'C="double $A\\n"\n'
        "D=${A}2 # inline comment\n"
        "E=x#not-a-comment\n"
        "F=\n"
        "G: yaml-style\n"
        "H='multi\nline'\n"
        "I=$$literal\n"
        "J=\\$unset\n"
    )
    env = parse_dotenv(text)
    assert env == {
        "A": "1",
        "B": "single $A",
        "C": "double 1\n",
        "D": "12",
        "E": "x#not-a-comment",
        "F": "",
        "G": "yaml-style",
        "H": "multi\nline",
        "I": "$literal",
        "J": "\\",  # unquoted values get no escape processing, only interpolation
    }


def test_dotenv_escaped_dollar_in_double_quotes_is_literal() -> None:
    assert parse_dotenv('A="\\$HOME"') == {"A": "$HOME"}


def test_dotenv_inherits_bare_names_from_lookup() -> None:
    env = parse_dotenv("HOME\nMISSING\n", {"HOME": "/root"}.get)
    assert env == {"HOME": "/root"}


def test_dotenv_defaults_and_required_values() -> None:
    assert parse_dotenv("A=${UNSET:-fallback}") == {"A": "fallback"}
    with pytest.raises(DotenvError) as info:
        parse_dotenv("X=1\nA=${UNSET:?must be set}\n")
    assert info.value.line == 2
    assert "must be set" in info.value.message


def test_dotenv_unterminated_quote_and_bad_key_report_lines() -> None:
    with pytest.raises(DotenvError) as info:
        parse_dotenv("A=1\nB='oops\n")
    assert info.value.line == 2
    with pytest.raises(DotenvError) as info:
        parse_dotenv("A=1\n\nB$=2\n")
    assert info.value.line == 3


def test_env_precedence_process_env_beats_env_files_and_later_files_win(tmp_path) -> None:
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    (tmp_path / ".env").write_text("A=dotenv\nB=dotenv\n")
    first = tmp_path / "one.env"
    first.write_text("A=one\nC=one\n")
    second = tmp_path / "two.env"
    second.write_text("C=two\nD=${C}-d\n")
    compose = str(tmp_path / "compose.yaml")

    env, errors = load_compose_env(compose, None, {"B": "process"})
    assert errors == []
    assert env["A"] == "dotenv"
    assert env["B"] == "process"

    env, errors = load_compose_env(compose, [str(first), str(second)], {"C": "process"})
    assert errors == []
    assert "B" not in env  # explicit env files replace .env
    assert env["A"] == "one"
    assert env["C"] == "process"
    assert env["D"] == "two-d"  # expansion sees the file's own values first


def test_missing_env_file_is_a_scan_error(tmp_path) -> None:
    env, errors = load_compose_env(str(tmp_path / "compose.yaml"), [str(tmp_path / "nope")], {})
    assert env == {}
    assert errors[0].file.endswith("nope")
