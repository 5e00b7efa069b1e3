"""Line-level parsing follows BuildKit: directives, continuations, comments, heredocs, case."""

from __future__ import annotations

import pytest

from tests.engine.scanners.helpers import messages, pulls, scan


def test_instructions_are_case_insensitive() -> None:
    result = scan("from alpine:3.19 as Base\nFrOm base\ncopy --from=BASE /a /b\n")
    assert pulls(result) == [("alpine:3.19", 1, "from")]
    assert result.errors == []


def test_continuation_joins_lines_and_reports_the_starting_line() -> None:
    text = "ARG V=1\n\nFROM \\\n  busybox:$V \\\n  AS b\n"
    assert pulls(scan(text)) == [("busybox:1", 3, "from")]


def test_comments_and_blank_lines_inside_a_continuation_are_skipped() -> None:
    text = (
        "FROM alpine\n"
        "RUN --mount=type=bind,from=node:20,target=/n \\\n"
        "# a comment in the middle\n"
        "\n"
        "    true\n"
        "COPY --from=busybox /bin/sh /sh\n"
    )
    assert pulls(scan(text)) == [
        ("alpine", 1, "from"),
        ("node:20", 2, "mount-from"),
        ("busybox", 6, "copy-from"),
    ]


def test_escape_directive_switches_continuation_to_backtick() -> None:
    text = "# escape=`\nFROM `\n  mcr.microsoft.com/windows/servercore:ltsc2022\nRUN dir c:\\\n"
    result = scan(text)
    assert pulls(result) == [("mcr.microsoft.com/windows/servercore:ltsc2022", 2, "from")]
    assert result.errors == []


def test_backslash_is_not_a_continuation_once_escape_is_backtick() -> None:
    # With ` as escape, the trailing \ is literal: the FROM line stands alone.
    result = scan("# escape=`\nFROM alpine \\\nRUN true\n")
    assert messages(result) == [(2, "FROM requires either one or three arguments")]


def test_directive_is_ignored_after_a_comment() -> None:
    # BuildKit stops looking for directives at the first non-directive comment.
    text = "# a comment\n# escape=`\nFROM alpine `\nRUN x\n"
    assert messages(scan(text)) == [(3, "FROM requires either one or three arguments")]


def test_directive_is_ignored_after_an_empty_line() -> None:
    text = "\n# escape=`\nFROM busybox \\\n AS b\n"
    result = scan(text)
    assert pulls(result) == [("busybox", 3, "from")]


def test_directive_is_ignored_after_an_instruction() -> None:
    result = scan("FROM alpine\n# escape=`\nRUN a \\\n  b\n")
    assert result.errors == []


def test_directives_allow_spaces_and_any_case() -> None:
    result = scan("#  ESCAPE  =  `\nFROM busybox `\n  AS x\n")
    assert pulls(result) == [("busybox", 2, "from")]


def test_repeated_directive_is_an_error_with_line() -> None:
    result = scan("# escape=\\\n# escape=`\nFROM alpine\n")
    assert messages(result) == [(2, "only one escape parser directive can be used")]


def test_invalid_escape_token_is_an_error_with_line() -> None:
    result = scan("# escape=x\nFROM alpine\n")
    assert messages(result) == [(1, "invalid escape token 'x' does not match ` or \\")]


def test_syntax_and_check_directives_are_accepted() -> None:
    result = scan("# syntax=docker/dockerfile:1\n# check=skip=all\nFROM alpine\n")
    assert pulls(result) == [("docker/dockerfile:1", 1, "syntax"), ("alpine", 3, "from")]
    assert result.errors == []


def test_byte_order_mark_and_crlf_line_endings_are_tolerated() -> None:
    result = scan("\ufeffFROM alpine:3 AS a\r\nCOPY --from=nginx /x /y\r\n")
    assert pulls(result) == [("alpine:3", 1, "from"), ("nginx", 2, "copy-from")]


def test_heredoc_body_is_not_parsed_as_instructions() -> None:
    text = "FROM alpine\nRUN <<EOF\nFROM evil:1\nCOPY --from=evil2 / /\nEOF\nRUN true\n"
    result = scan(text)
    assert pulls(result) == [("alpine", 1, "from")]
    assert result.errors == []


@pytest.mark.parametrize(
    "opener",
    [
        "RUN <<'EOF'",
        'RUN <<"EOF"',
        'RUN <<EO"F"',
        "RUN << EOF",
        "RUN <<  EOF  > /out",
        "RUN 3<<EOF",
        "RUN --mount=type=cache,target=/c <<EOF",
        "COPY <<EOF /dest",
        "ADD <<EOF /dest",
        "RUN <<EOF python3",
        "ONBUILD RUN <<EOF",
    ],
)
def test_heredoc_openers_in_all_supported_forms(opener: str) -> None:
    text = f"FROM alpine\n{opener}\nFROM not-a-pull\nEOF\nCOPY --from=busybox / /\n"
    result = scan(text)
    assert pulls(result) == [("alpine", 1, "from"), ("busybox", 5, "copy-from")]
    assert result.errors == []


def test_chomping_heredoc_ends_at_a_tab_indented_terminator() -> None:
    text = "FROM alpine\nRUN <<-EOT\n\tFROM x\n\tEOT\nCOPY --from=busybox / /\n"
    assert pulls(scan(text))[-1] == ("busybox", 5, "copy-from")


def test_plain_heredoc_does_not_end_at_an_indented_terminator() -> None:
    text = "FROM alpine\nRUN <<EOT\n\tEOT\nEOT\nCOPY --from=busybox / /\n"
    assert pulls(scan(text))[-1] == ("busybox", 5, "copy-from")


def test_multiple_heredocs_on_one_line_are_consumed_in_order() -> None:
    text = "FROM alpine\nCOPY <<X <<Y /dest\nY\nX\nX\nY\nCOPY --from=busybox / /\n"
    result = scan(text)
    assert pulls(result)[-1] == ("busybox", 7, "copy-from")
    assert result.errors == []


@pytest.mark.parametrize("line", ['RUN ["<<EOF"]', "RUN '<<EOF'", 'RUN "<<EOF"', "USER <<EOF"])
def test_quoted_json_or_unsupported_heredocs_are_not_heredocs(line: str) -> None:
    # The next line is therefore an instruction, which BuildKit rejects as unknown.
    result = scan(f"FROM alpine\n{line}\nEOF\n")
    assert messages(result) == [(3, "unknown instruction: EOF")]


def test_unterminated_heredoc_is_an_error_at_the_opening_line() -> None:
    result = scan("FROM alpine\nRUN <<EOF\necho hi\n")
    assert messages(result) == [(2, "unterminated heredoc")]


def test_unknown_instruction_is_an_error_with_line() -> None:
    result = scan("FROM alpine\nRUNN echo\n")
    assert messages(result) == [(2, "unknown instruction: RUNN")]


def test_json_arrays_must_hold_only_strings() -> None:
    result = scan('FROM alpine\nCMD ["a", 1]\n')
    assert messages(result) == [
        (2, "when using JSON array syntax, arrays must be comprised of strings only")
    ]


def test_empty_file_is_an_error() -> None:
    assert messages(scan("\n# just a comment\n")) == [(None, "file with no instructions")]


def test_instruction_before_first_from_is_an_error() -> None:
    result = scan("RUN echo hi\nFROM alpine\n")
    assert messages(result) == [(1, "no build stage in current context")]


def test_only_global_args_is_an_error() -> None:
    assert messages(scan("ARG X=1\n")) == [(None, "dockerfile contains no stages to build")]


def test_env_without_equals_in_new_form_is_an_error() -> None:
    result = scan("FROM alpine\nENV A=1 B\n")
    assert result.errors[0].line == 2
    assert "can't find = in" in result.errors[0].message


def test_onbuild_from_is_rejected_and_onbuild_copy_from_counts_for_the_child_build() -> None:
    result = scan("FROM alpine\nONBUILD FROM x\nONBUILD COPY --from=nginx / /\n")
    assert pulls(result) == [("alpine", 1, "from"), ("nginx", 3, "copy-from")]
    assert messages(result) == [(2, "FROM isn't allowed as an ONBUILD trigger")]


def test_copy_needs_a_destination() -> None:
    result = scan("FROM alpine\nCOPY onlyone\n")
    assert result.errors[0].line == 2
    assert result.errors[0].message.startswith("COPY requires at least two arguments")


@pytest.mark.parametrize(
    ("text", "build_args", "expected"),
    [
        # BuildKit pulls the frontend the directive names (its first word) before anything else.
        ("#syntax = docker/dockerfile:1.7 opt=1\nFROM alpine\n", {}, ("docker/dockerfile:1.7", 1)),
        (
            "# escape=`\n# syntax=ghcr.io/acme/frontend:2\nFROM alpine\n",
            {},
            ("ghcr.io/acme/frontend:2", 2),
        ),
        # --build-arg BUILDKIT_SYNTAX replaces it, or supplies one.
        (
            "# syntax=docker/dockerfile:1\nFROM alpine\n",
            {"BUILDKIT_SYNTAX": "acme/df:1"},
            ("acme/df:1", 1),
        ),
        (
            "FROM alpine\n",
            {"BUILDKIT_SYNTAX": "docker/dockerfile:1.4"},
            ("docker/dockerfile:1.4", 1),
        ),
    ],
)
def test_the_syntax_frontend_is_an_image_pulled(
    text: str, build_args: dict[str, str], expected: tuple[str, int]
) -> None:
    result = scan(text, build_args)
    assert pulls(result)[0] == (*expected, "syntax")
    assert result.errors == []


def test_a_syntax_directive_after_the_first_instruction_is_a_comment() -> None:
    assert pulls(scan("FROM alpine\n# syntax=docker/dockerfile:1\n")) == [("alpine", 1, "from")]


def test_the_frontend_is_reported_even_when_the_rest_does_not_parse() -> None:
    # The frontend is pulled first and parses the file itself: it is pulled either way.
    result = scan("# syntax=docker/dockerfile:1\nFRUM alpine\n")
    assert pulls(result) == [("docker/dockerfile:1", 1, "syntax")]
    assert (2, "unknown instruction: FRUM") in messages(result)


def test_an_invalid_syntax_image_is_an_error_on_its_line() -> None:
    result = scan("# syntax=Docker/Dockerfile:1\nFROM alpine\n")
    assert pulls(result) == [("alpine", 2, "from")]
    assert [
        (e.line, e.message.startswith("syntax directive: invalid reference format"))
        for e in result.errors
    ] == [(1, True)]
