"""Property tests: scanners accept any text and only ever report problems as ScanErrors."""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.engine.scanners.compose import InterpolationError, substitute
from policies.engine.scanners.dockerfile_stages import scan_dockerfile
from policies.engine.scanners.results import ScanResult
from policies.engine.scanners.shell_lexer import ShellLexError, expand_word

DOCKERFILE_ATOMS = st.sampled_from(
    [
        "FROM ",
        "from ",
        "AS ",
        "as ",
        "COPY ",
        "RUN ",
        "ARG ",
        "ONBUILD ",
        "ENV ",
        "ADD ",
        "--from=",
        "--mount=",
        "--platform=",
        "type=bind,from=",
        "scratch",
        "0",
        "1",
        "alpine",
        "${",
        "}",
        "$",
        ":-",
        ":?",
        ":+",
        "-",
        "+",
        "#",
        "%",
        "/",
        "\\",
        "`",
        "'",
        '"',
        "[",
        "]",
        "<<",
        "<<-",
        "EOF",
        "\n",
        "\r\n",
        " ",
        "\t",
        "# escape=`\n",
        "# syntax=x\n",
        "=",
        "ＦＲＯＭ",
        "\x00",
        "\ufeff",
        "b",
        "stage",
    ]
)
dockerfile_text = st.one_of(
    st.text(max_size=300),
    st.lists(DOCKERFILE_ATOMS, max_size=60).map("".join),
)

YAML_ATOMS = st.sampled_from(
    [
        "services:",
        "\n",
        "  ",
        "    ",
        "image: ",
        "build: ",
        "context: ",
        "args:",
        "extends: ",
        "profiles: ",
        "- ",
        "a",
        "b",
        "${",
        "}",
        "$$",
        "$",
        ":-",
        ":?",
        "&x ",
        "*x",
        "<<: ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "'",
        '"',
        "#",
        "include:",
        "dockerfile_inline: |",
        "FROM x",
        "service: ",
        "file: ",
        "null",
        "~",
        ": ",
        "!reset ",
        "!override ",
        "---\n",
        "build: ",
        "args:",
        "cache_from:",
        "additional_contexts:",
        "docker-image://",
        "type=registry,ref=",
        "pull_policy: build",
        "<<: *a",
        "&a ",
    ]
)
yaml_text = st.one_of(st.text(max_size=300), st.lists(YAML_ATOMS, max_size=60).map("".join))


def _assert_well_formed(result: ScanResult) -> None:
    for use in result.images:
        assert use.line >= 1
        assert use.kind in {"syntax", "from", "copy-from", "mount-from", "compose", "cache-from"}
    for err in result.errors:
        assert err.message
        assert err.line is None or err.line >= 1


@settings(max_examples=400, deadline=None)
@given(dockerfile_text, st.sampled_from(["linux/amd64", "linux/arm/v7", "", "x"]))
def test_dockerfile_scanner_never_raises(text: str, platform: str) -> None:
    _assert_well_formed(scan_dockerfile(text, platform=platform, build_args={"A": "$B"}))


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80), st.dictionaries(st.text(max_size=5), st.text(max_size=5)))
def test_word_expansion_only_raises_shell_lex_errors(word: str, env: dict[str, str]) -> None:
    with contextlib.suppress(ShellLexError):
        assert isinstance(expand_word(word, env), str)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_interpolation_only_raises_interpolation_errors(template: str) -> None:
    with contextlib.suppress(InterpolationError):
        assert isinstance(substitute(template, {"A": "1", "E": ""}.get), str)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=yaml_text)
def test_compose_scanner_never_raises(tmp_path: Path, text: str) -> None:
    from policies.engine.scanners.compose import scan_compose

    _assert_well_formed(scan_compose(text, path=str(tmp_path / "compose.yaml"), environ={}))


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(["--a=b", "--", "-x", "x", " ", "\t", "'", '"', "\\", "="]), max_size=12
    ).map("".join)
)
def test_flag_fast_path_agrees_with_the_buildkit_port(line: str) -> None:
    from policies.engine.scanners.dockerfile_parser import _extract_flags, _extract_flags_slow

    assert _extract_flags(line) == _extract_flags_slow(line)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=yaml_text, second=yaml_text)
def test_merging_any_two_compose_files_never_raises(
    tmp_path: Path, first: str, second: str
) -> None:
    from policies.engine.scanners.compose import scan_compose_project

    (tmp_path / "a.yml").write_text(first, encoding="utf-8", errors="replace")
    (tmp_path / "b.yml").write_text(second, encoding="utf-8", errors="replace")
    files = [str(tmp_path / "a.yml"), str(tmp_path / "b.yml")]
    _assert_well_formed(scan_compose_project(files, environ={}))
