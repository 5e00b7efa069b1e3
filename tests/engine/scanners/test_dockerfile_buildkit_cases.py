"""Cases ported from BuildKit's own tests (frontend/dockerfile/parser and instructions):
the frontend BuildKit pulls however it is named, and every file BuildKit refuses is an error
with its line, never a silent pass.

The tables restate the upstream cases (parser/directives_test.go, parser/testfiles-negative,
instructions/parse_test.go, instructions/bflag_test.go, dockerfile2llb's stage rules) in our
own words; the messages are BuildKit's, so a CI log reads like `docker build` would.
"""

from __future__ import annotations

import pytest

from tests.engine.scanners.helpers import messages, pulls, scan

# --------------------------------------------------------------------------------------
# The frontend image: every way BuildKit's DetectSyntax finds it.

SYNTAX_CASES = [
    pytest.param(
        "#!/usr/bin/env buildctl-daemonless.sh\n# syntax=evil/frontend:1\nFROM alpine\n",
        ("evil/frontend:1", 2),
        id="shebang-then-directive",
    ),
    pytest.param(
        "\ufeff#!/bin/sh\n#syntax=evil/frontend:2\nFROM alpine\n",
        ("evil/frontend:2", 2),
        id="bom-and-shebang",
    ),
    pytest.param(
        "// syntax = evil/frontend:3\nFROM alpine\n",
        ("evil/frontend:3", 1),
        id="c-style-directive",
    ),
    pytest.param(
        "#!/bin/sh\n// syntax=evil/frontend:4 arg=1\nFROM alpine\n",
        ("evil/frontend:4", 2),
        id="shebang-then-c-style",
    ),
    pytest.param('{"syntax": "evil/frontend:5"}\n', ("evil/frontend:5", 1), id="json-document"),
    pytest.param(
        "# escape=`\n# SYNTAX=evil/frontend:6\nFROM alpine\n",
        ("evil/frontend:6", 2),
        id="directive-name-any-case",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SYNTAX_CASES)
def test_frontend_named_any_way_buildkit_detects_is_a_pull(
    text: str, expected: tuple[str, int]
) -> None:
    assert (*expected, "syntax") in pulls(scan(text))


def test_a_shebang_alone_names_no_frontend() -> None:
    result = scan("#!/usr/bin/env docker-build\nFROM alpine\n")
    assert result.errors == []
    assert pulls(result) == [("alpine", 2, "from")]


def test_a_shebang_ends_the_parser_directives() -> None:
    # The parser sees `#!...` as a comment: the escape directive after it is a comment too.
    result = scan("#!/bin/sh\n# escape=`\nFROM alpine\nRUN echo \\\n  hi\n")
    assert result.errors == []


# --------------------------------------------------------------------------------------
# Files BuildKit refuses.

REFUSED = [
    # instructions/parse_test.go
    ("FROM alpine\nMAINTAINER --boo joe@example.com\n", (2, "unknown flag: --boo")),
    ("FROM alpine\nONBUILD FROM scratch\n", (2, "FROM isn't allowed as an ONBUILD trigger")),
    (
        "FROM alpine\nONBUILD ONBUILD RUN touch foobar\n",
        (2, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ),
    ("FROM alpine\nFOO bar\n", (2, "unknown instruction: FOO")),
    *[
        (f"FROM alpine\n{cmd}\n", (2, f"{cmd} requires exactly one argument"))
        for cmd in (
            "MAINTAINER",
            "WORKDIR",
            "USER",
            "STOPSIGNAL",
        )
    ],
    *[
        (f"FROM alpine\n{cmd}\n", (2, f"{cmd} requires at least one argument"))
        for cmd in (
            "ENV",
            "LABEL",
            "ONBUILD",
            "HEALTHCHECK",
            "EXPOSE",
            "VOLUME",
        )
    ],
    ("FROM alpine\nENV =value\n", (2, "ENV names can not be blank")),
    ("FROM alpine\nLABEL =value\n", (2, "LABEL names can not be blank")),
    # HEALTHCHECK forms
    ("FROM alpine\nHEALTHCHECK CMD\n", (2, "Missing command after HEALTHCHECK CMD")),
    ("FROM alpine\nHEALTHCHECK NONE now\n", (2, "HEALTHCHECK NONE takes no arguments")),
    ("FROM alpine\nHEALTHCHECK FOO true\n", (2, 'Unknown type "FOO" in HEALTHCHECK (try CMD)')),
    ("FROM alpine\nHEALTHCHECK --every=5s CMD true\n", (2, "unknown flag: --every")),
    # bflag_test.go: unknown, duplicate, valueless and non-boolean flags
    ("FROM alpine\nCOPY --frm=builder /a /b\n", (2, "unknown flag: --frm")),
    ("FROM --plaform=linux/amd64 alpine\n", (1, "unknown flag: --plaform")),
    ("FROM alpine\nRUN --mnt=type=cache,target=/c true\n", (2, "unknown flag: --mnt")),
    ("FROM alpine\nADD --from=busybox /a /b\n", (2, "unknown flag: --from")),
    ("FROM alpine\nENV --x=1 A=b\n", (2, "unknown flag: --x")),
    ("FROM alpine\nCMD --x true\n", (2, "unknown flag: --x")),
    (
        "FROM alpine\nCOPY --link=maybe /a /b\n",
        (2, "expecting boolean value for flag --link, not: maybe"),
    ),
    ("FROM alpine\nCOPY --link= /a /b\n", (2, "missing a value on flag: --link")),
    ("FROM alpine\nCOPY --chown /a /b\n", (2, "missing a value on flag: --chown")),
    ("FROM alpine\nCOPY --chmod=1 --chmod=2 /a /b\n", (2, "duplicate flag specified: --chmod")),
    (
        "FROM alpine\nRUN --network=none --network=host true\n",
        (2, "duplicate flag specified: --network"),
    ),
    # testfiles-negative
    ("FROM busybox\n\nENV PATH\n", (3, "ENV must have two arguments")),
    (
        'CMD [ "echo", [ "nested json" ] ]\n',
        (1, "when using JSON array syntax, arrays must be comprised of strings only"),
    ),
    ("FROM alpine\nSHELL /bin/sh -c\n", (2, "SHELL requires the arguments to be in JSON form")),
    # Values BuildKit expands with its shell lexer: an unterminated quote fails the build.
    (
        'FROM alpine\nENV A="unterminated\n',
        (
            2,
            'failed to process "\\"unterminated": unexpected end of statement while looking '
            "for matching double-quote",
        ),
    ),
    (
        "FROM alpine\nLABEL a='open\n",
        (
            2,
            'failed to process "\'open": unexpected end of statement while looking for '
            "matching single-quote",
        ),
    ),
    (
        'FROM alpine\nWORKDIR "/src\n',
        (
            2,
            'failed to process "\\"/src": unexpected end of statement while looking for '
            "matching double-quote",
        ),
    ),
    (
        "FROM alpine\nCOPY --chown=${U /a /b\n",
        (2, "failed to process \"${U\": syntax error: missing '}'"),
    ),
    # Platforms: an undeclared ARG leaves an empty or malformed platform.
    ("FROM --platform=$NOPE alpine\n", (1, "empty platform value from expression $NOPE")),
    (
        "FROM --platform=linux/$NOPE alpine\n",
        (1, 'failed to parse platform linux/$NOPE: "linux/": invalid platform specifier'),
    ),
    (
        "ARG P=linux/amd64/v2/extra\nFROM --platform=$P alpine\n",
        (2, 'failed to parse platform $P: "linux/amd64/v2/extra": invalid platform specifier'),
    ),
    # dockerfile2llb: stages are dispatched in file order.
    (
        "FROM alpine\nCOPY --from=tools /t /t\nFROM busybox AS tools\n",
        (
            2,
            'cannot copy from stage "tools", it needs to be defined before current stage "stage-0"',
        ),
    ),
    (
        "FROM alpine AS a\nCOPY --from=1 /t /t\nFROM busybox\n",
        (2, 'cannot copy from stage "1", it needs to be defined before current stage "a"'),
    ),
    (
        "FROM alpine\nRUN --mount=from=tools,target=/t true\nFROM busybox AS tools\n",
        (
            2,
            'cannot mount from stage "tools" to "/t", stage needs to be defined before '
            "current command",
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), REFUSED)
def test_a_file_buildkit_refuses_is_an_error_on_its_line(
    text: str, expected: tuple[int, str]
) -> None:
    assert expected in messages(scan(text))


ACCEPTED = [
    "FROM alpine\nHEALTHCHECK NONE\n",
    "FROM alpine\nHEALTHCHECK --interval=5s --retries=3 CMD true\n",
    "FROM alpine\nCOPY --link --chmod=644 --chown=1:1 --parents --exclude=*.md a b\n",
    "FROM alpine\nADD --keep-git-dir=true --checksum=sha256:abc --unpack=false a b\n",
    "FROM alpine\nRUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t "
    "--network=none --security=sandbox --device=x true\n",
    "FROM alpine\nARG --whatever=1 A=1\n",  # ARG does not parse flags
    "FROM alpine\nSTOPSIGNAL SIGTERM\n",
    "FROM alpine\nENV A=\"quoted value\" B='single' C=plain\n",
    "FROM alpine\nCOPY -- --not-a-flag /dst\n",
    "FROM --platform=$BUILDPLATFORM alpine\n",
    "ARG P=linux/arm64/v8\nFROM --platform=$P alpine\n",
    "FROM --platform=windows alpine\n",
    "FROM --platform=arm64 alpine\n",
    "FROM busybox AS tools\nFROM alpine\nCOPY --from=tools /t /t\nCOPY --from=0 /t /t\n",
    'FROM alpine\nENV A="${UNSET:?}"\n',  # the stage's variables are only known at build time
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_a_file_buildkit_accepts_has_no_error(text: str) -> None:
    assert messages(scan(text)) == []


def test_onbuild_triggers_naming_images_are_pulls_of_the_child_build() -> None:
    result = scan(
        "FROM alpine\nONBUILD COPY --from=evil/onbuild:1 /a /b\n"
        "ONBUILD RUN --mount=type=bind,from=evil/mount:1,target=/m true\n"
        "ONBUILD COPY --from=0 /a /b\n"
    )
    assert result.errors == []
    assert pulls(result) == [
        ("alpine", 1, "from"),
        ("evil/onbuild:1", 2, "copy-from"),
        ("evil/mount:1", 3, "mount-from"),
    ]


# parser/directives_test.go (TestDetectSyntax, TestDetectSyntaxBOM): what DetectSyntax finds.
DETECT_SYNTAX = [
    ("# syntax = dockerfile:experimental // opts\nFROM busybox\n", ("dockerfile:experimental", 1)),
    (
        "#!/bin/sh\n# syntax = dockerfile:experimental\nFROM busybox\n",
        ("dockerfile:experimental", 2),
    ),
    ("#!/bin/sh\n\n# syntax = dockerfile:experimental\n", None),  # a blank line ends them
    ("FROM busybox\nRUN ls\n", None),
    ("//syntax=foo\n//key=value", ("foo", 1)),
    ("#!/bin/sh\n//syntax=x", ("x", 2)),
    ('{"syntax": "foo", "bar": ["abc"]}', ("foo", 1)),
    ('{"syntax": "foo"', None),
    ('{"syntax": "foo"}\n# syntax=bar', None),
    ("\ufeff# syntax = myfrontend\nFROM busybox\n", ("myfrontend", 1)),
    ("# escape=\\\n# syntax=a/b\n# syntax=c/d\nFROM x\n", ("a/b", 2)),
    ("# key = FOO bar\n# syntax=a/b\nFROM x\n", None),  # an unknown directive ends them
]


@pytest.mark.parametrize(("text", "expected"), DETECT_SYNTAX)
def test_detect_syntax_cases_from_buildkit(text: str, expected: tuple[str, int] | None) -> None:
    found = [(image, line) for image, line, kind in pulls(scan(text)) if kind == "syntax"]
    assert found == ([] if expected is None else [expected])
