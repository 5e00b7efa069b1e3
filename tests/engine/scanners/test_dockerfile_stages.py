"""Stage semantics follow dockerfile2llb: ARG expansion, stage names, --from, mounts, cycles."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.engine.scanners.dockerfile_stages import scan_dockerfile
from tests.engine.scanners.helpers import messages, pulls, scan

FIXTURES = Path(__file__).parent / "fixtures"


def test_realistic_go_project_reports_every_pull_with_lines() -> None:
    path = FIXTURES / "goapp" / "Dockerfile"
    result = scan_dockerfile(path.read_text(), path=str(path))
    assert result.errors == []
    assert pulls(result) == [
        ("docker/dockerfile:1.7", 1, "syntax"),
        ("tonistiigi/xx:1.4.0", 8, "from"),
        ("golang:1.22-alpine3.19", 10, "from"),
        ("docker.io/library/postgres:16", 33, "mount-from"),
        ("gcr.io/distroless/static-debian12:nonroot", 36, "from"),
        ("ghcr.io/grpc-ecosystem/grpc-health-probe:v0.4.24", 38, "copy-from"),
    ]
    assert {use.file for use in result.images} == {str(path)}


def test_build_args_override_global_arg_defaults() -> None:
    text = "ARG GO_VERSION=1.21\nFROM golang:${GO_VERSION}\n"
    assert pulls(scan(text, {"GO_VERSION": "1.23"})) == [("golang:1.23", 2, "from")]


def test_build_args_without_a_global_arg_declaration_do_not_leak_into_from() -> None:
    result = scan("FROM busybox${SUFFIX}\n", {"SUFFIX": ":1"})
    assert pulls(result) == [("busybox", 1, "from")]


def test_global_args_expand_with_earlier_args() -> None:
    text = "ARG REG=ghcr.io\nARG IMG=${REG}/acme/app\nFROM $IMG:1\n"
    assert pulls(scan(text)) == [("ghcr.io/acme/app:1", 3, "from")]


@pytest.mark.parametrize(
    ("from_word", "expected"),
    [
        ("${UNSET:-alpine}", "alpine"),
        ("${EMPTY:-alpine}", "alpine"),
        ("${EMPTY-alpine}x", "x"),
        ("${UNSET-alpine}", "alpine"),
        ("alpine${SET:+:3.20}", "alpine:3.20"),
        ("alpine${SET+:3.20}", "alpine:3.20"),
        ("alpine${UNSET:+:3.20}", "alpine"),
    ],
)
def test_from_supports_buildkit_default_and_alternative_forms(
    from_word: str, expected: str
) -> None:
    text = f"ARG EMPTY=\nARG SET=1\nFROM {from_word}\n"
    assert pulls(scan(text)) == [(expected, 3, "from")]


def test_arg_declared_without_default_stays_unset() -> None:
    assert pulls(scan("ARG V\nFROM alpine${V-:edge}\n")) == [("alpine:edge", 2, "from")]


def test_stage_arg_does_not_affect_later_from() -> None:
    text = "FROM alpine AS a\nARG TAG=9\nFROM busybox${TAG:+:$TAG}\n"
    assert pulls(scan(text)) == [("alpine", 1, "from"), ("busybox", 3, "from")]


def test_platform_args_come_from_the_platform_parameter() -> None:
    text = (
        "FROM --platform=$BUILDPLATFORM tonistiigi/xx AS xx\n"
        "FROM acme/base-${TARGETARCH}${TARGETVARIANT}\n"
    )
    assert pulls(scan(text, platform="linux/arm/v7")) == [
        ("tonistiigi/xx", 1, "from"),
        ("acme/base-armv7", 2, "from"),
    ]
    assert pulls(scan(text))[1] == ("acme/base-amd64", 2, "from")


def test_platform_args_can_be_overridden_by_build_args() -> None:
    assert pulls(scan("FROM img-$TARGETOS\n", {"TARGETOS": "windows"})) == [
        ("img-windows", 1, "from")
    ]


def test_later_from_naming_a_stage_is_not_a_pull_and_names_ignore_case() -> None:
    text = "FROM golang:1.22 AS Builder\nFROM BUILDER AS test\nFROM builder\n"
    assert pulls(scan(text)) == [("golang:1.22", 1, "from")]


def test_from_a_stage_defined_later_is_an_image_pull() -> None:
    # BuildKit only resolves FROM against stages declared earlier.
    text = "FROM later\nFROM alpine AS later\n"
    assert pulls(scan(text)) == [("later", 1, "from"), ("alpine", 2, "from")]


def test_from_x_as_x_pulls_image_x() -> None:
    # The common "override me with a named context" pattern: the image is still pulled.
    assert pulls(scan("FROM alpine AS alpine\n")) == [("alpine", 1, "from")]


def test_scratch_is_never_a_pull() -> None:
    text = "FROM scratch AS s\nCOPY --from=scratch / /\nRUN --mount=from=scratch,target=/x true\n"
    result = scan(text)
    assert pulls(result) == []
    assert result.errors == []


def test_copy_from_stage_name_or_index_is_not_a_pull() -> None:
    text = (
        "FROM golang AS build\n"
        "FROM alpine\n"
        "COPY --from=build /a /a\n"
        "COPY --from=0 /b /b\n"
        "COPY --from=BUILD /c /c\n"
    )
    assert pulls(scan(text)) == [("golang", 1, "from"), ("alpine", 2, "from")]


def test_copy_from_a_later_stage_is_not_a_pull_but_an_error() -> None:
    text = "FROM alpine\nCOPY --from=tools /t /t\nFROM busybox AS tools\n"
    result = scan(text)
    assert pulls(result) == [("alpine", 1, "from"), ("busybox", 3, "from")]
    assert [line for line, _ in messages(result)] == [2]


def test_copy_from_an_image_is_a_pull_with_its_flags_quoted_or_not() -> None:
    text = (
        "FROM alpine\n"
        "COPY --chown=1:1 --from=ghcr.io/astral-sh/uv:0.5 /uv /bin/\n"
        'COPY --link --from="docker.io/library/busybox:1.36" /bin/sh /sh\n'
        'COPY --from=nginx ["/etc/nginx", "/etc/nginx"]\n'
    )
    assert pulls(scan(text))[1:] == [
        ("ghcr.io/astral-sh/uv:0.5", 2, "copy-from"),
        ("docker.io/library/busybox:1.36", 3, "copy-from"),
        ("nginx", 4, "copy-from"),
    ]


def test_run_mount_from_image_is_a_pull_and_from_stage_is_not() -> None:
    text = (
        "FROM node:20 AS deps\n"
        "FROM alpine\n"
        "RUN --mount=type=bind,from=deps,target=/d \\\n"
        "    --mount=type=cache,target=/c,from=golang:1.22 \\\n"
        "    --mount=from=rust:1,target=/r true\n"
    )
    assert pulls(scan(text)) == [
        ("node:20", 1, "from"),
        ("alpine", 2, "from"),
        ("golang:1.22", 3, "mount-from"),
        ("rust:1", 3, "mount-from"),
    ]


def test_from_platform_flag_is_not_part_of_the_image() -> None:
    text = "FROM --platform=linux/arm64 alpine:3 AS a\n"
    assert pulls(scan(text)) == [("alpine:3", 1, "from")]


def test_variable_in_copy_from_is_an_error() -> None:
    text = "ARG IMG=alpine\nFROM busybox\nCOPY --from=${IMG} / /\n"
    result = scan(text)
    assert pulls(result) == [("busybox", 2, "from")]
    assert messages(result) == [
        (
            3,
            "variable expansion is not supported for --from, define a new stage with FROM "
            "using ARG from global scope as a workaround",
        )
    ]


def test_variable_in_mount_from_is_an_error() -> None:
    result = scan("FROM busybox\nRUN --mount=from=$IMG,target=/x true\n")
    assert messages(result) == [
        (2, "'from' doesn't support variable expansion, define alias stage instead")
    ]


def test_from_without_image_is_an_error() -> None:
    assert messages(scan("FROM\n")) == [(1, "FROM requires either one or three arguments")]


def test_from_with_wrong_word_count_is_an_error() -> None:
    assert messages(scan("FROM a b\n")) == [(1, "FROM requires either one or three arguments")]


def test_invalid_stage_name_is_an_error() -> None:
    result = scan("FROM alpine AS 1st\n")
    assert result.errors[0].line == 1
    assert "invalid name for build stage" in result.errors[0].message


def test_blank_base_name_after_expansion_is_an_error() -> None:
    result = scan("ARG BASE\nFROM $BASE\n")
    assert messages(result) == [(2, "base name ($BASE) should not be blank")]


def test_required_variable_in_from_is_an_error_with_the_message() -> None:
    result = scan("FROM ${BASE:?required}\n")
    assert result.errors[0].line == 1
    assert "BASE: required" in result.errors[0].message


def test_bad_substitution_in_from_is_an_error() -> None:
    result = scan("FROM ${}\n")
    assert result.errors[0].line == 1
    assert "bad substitution" in result.errors[0].message


def test_stage_copying_from_itself_is_a_circular_dependency() -> None:
    result = scan("FROM busybox AS stage0\nCOPY --from=stage0 f1 /sub/\n")
    assert messages(result) == [(2, "circular dependency detected on stage: stage0")]


def test_index_zero_in_a_single_stage_is_a_circular_dependency() -> None:
    result = scan("FROM busybox\nCOPY --from=0 /a /b\n")
    assert messages(result) == [(2, "circular dependency detected on stage: stage-0")]


def test_multi_stage_cycle_is_detected() -> None:
    text = (
        "FROM busybox AS stage0\nCOPY --from=stage2 f1 /sub/\n"
        "FROM busybox AS stage1\nCOPY --from=stage0 f2 /sub/\n"
        "FROM busybox AS stage2\nCOPY --from=stage1 f2 /sub/\n"
    )
    assert messages(scan(text)) == [(2, "circular dependency detected on stage: stage0")]


def test_mount_from_own_stage_is_a_circular_dependency() -> None:
    result = scan("FROM busybox AS b\nRUN --mount=from=b,target=/x true\n")
    assert messages(result) == [(2, "circular dependency detected on stage: b")]


def test_out_of_range_stage_index_is_an_error() -> None:
    result = scan("FROM busybox\nFROM alpine\nCOPY --from=5 / /\n")
    assert messages(result) == [(3, "invalid stage index 5")]


def test_copy_from_without_value_is_an_error() -> None:
    result = scan("FROM busybox\nCOPY --from / /\n")
    assert messages(result) == [(2, "missing a value on flag: --from")]


def test_invalid_reference_is_reported_with_the_parser_message() -> None:
    result = scan("FROM Alpine:3\nCOPY --from=UPPER/Case / /\n")
    assert pulls(result) == []
    assert [err.line for err in result.errors] == [1, 2]
    assert all("must be lowercase" in err.message for err in result.errors)


def test_errors_carry_the_file_name() -> None:
    result = scan_dockerfile("FROM\n", path="svc/Dockerfile.prod")
    assert result.errors[0].file == "svc/Dockerfile.prod"
