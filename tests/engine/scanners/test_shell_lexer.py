"""The word lexer behaves like BuildKit's shell lexer (cases restated from lex_test.go)."""

from __future__ import annotations

import pytest

from policies.engine.scanners.shell_lexer import ShellLexError, expand_word

ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


@pytest.mark.parametrize(
    ("word", "env", "expected"),
    [
        ("x", {}, "x"),
        ("x ${UNUSED}", {}, "x "),
        ("x ${FOO}", {"FOO": "y"}, "x y"),
        ("$PWD/sub", ENV, "/home/sub"),
        ("${KOREAN}", ENV, "한국어"),
        ("he'$PWD'", ENV, "he$PWD"),  # single quotes are literal
        ('he"$PWD"', ENV, "he/home"),  # double quotes still expand
        ("\\$PWD", ENV, "$PWD"),  # escaped dollar
        ("a$", ENV, "a$"),  # a lone trailing $ stays
        ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx  ccc"),
        ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx bbb ccc"),
        ("${FOO:-}", {}, ""),
        ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa bbb "),
        ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa  "),
        ("${BAR?bbb}", {"BAR": ""}, ""),
        ("${FOO:?aaa}", {"FOO": "xxx"}, "xxx"),
        ("${FOO%%\\**}", {"FOO": "xx**"}, "xx"),
        ("${FOO#*x*y}", {"FOO": "xxyy"}, "y"),
        ("${FOO##*x}", {"FOO": "xxyy"}, "yy"),
        ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy"),
        ("${FOO#?\\?}", {"FOO": "???y"}, "?y"),
        ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy."),
        ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a"),
        (
            "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
            {"FOO": "/var/var/bar.txt", "NEEDLE": "/var"},
            "/var/bar.txt - /bar.txt",
        ),
        (
            "${FOO/$N/$R}",
            {"FOO": "http://google.de", "N": "http://", "R": "https://"},
            "https://google.de",
        ),
        ("${FOO///}", {"FOO": "xxyy"}, "xxyy"),
        # The release-file naming pattern BuildKit itself documents.
        (
            "app-${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tgz",
            {"TARGETOS": "linux", "TARGETARCH": "arm", "TARGETVARIANT": "v7"},
            "app-linux-arm-v7.tgz",
        ),
        (
            "app-${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tgz",
            {"TARGETOS": "linux", "TARGETARCH": "amd64", "TARGETVARIANT": ""},
            "app-linux-amd64.tgz",
        ),
    ],
)
def test_expansion_matches_buildkit(word: str, env: dict[str, str], expected: str) -> None:
    assert expand_word(word, env) == expected


@pytest.mark.parametrize(
    ("word", "env", "fragment"),
    [
        ("${VAR:?message here$ARG}", {"VAR": "", "ARG": "x"}, "message herex"),
        ("${VAR:?message here$ARG}", {"ARG": "x"}, "message herex"),
        ("${VAR?message here$ARG}", {"ARG": "x"}, "message herex"),
        ("${BAZ:?}", {}, "BAZ: is not allowed to be unset"),
        ("${BAR:?}", {"BAR": ""}, "BAR: is not allowed to be empty"),
        ("${FOO=aaa}", {"FOO": "x"}, "unsupported modifier (=)"),
        ("${FOO=}", {}, "unsupported modifier"),
        ("${", {}, "missing '}'"),
        ("${}", {}, "bad substitution"),
        ("${:x}", {}, "bad substitution"),
        ("${FOO", {}, "missing '}'"),
        ("${FOO:-x", {}, "missing '}'"),
        ("${FOO//ww}", {"FOO": "xxyy"}, "missing '/'"),
        ("'unterminated", {}, "single-quote"),
        ('"unterminated', {}, "double-quote"),
        ("${FOO#\\x}", {"FOO": "x"}, "invalid escape"),
    ],
)
def test_malformed_words_raise_buildkit_errors(
    word: str, env: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ShellLexError, match=None) as info:
        expand_word(word, env)
    assert fragment in str(info.value)


def test_set_but_empty_variable_is_set_for_dash_but_not_colon_dash() -> None:
    assert expand_word("${V-default}", {"V": ""}) == ""
    assert expand_word("${V:-default}", {"V": ""}) == "default"


def test_backtick_escape_token_escapes_dollar() -> None:
    assert expand_word("`$HOME", {"HOME": "/root"}, escape="`") == "$HOME"
    assert expand_word("\\$HOME", {"HOME": "/root"}, escape="`") == "\\/root"
