"""Compose projects read the way `docker compose config` reads them: every build of every
service, override files, COMPOSE_FILE, include, extends, merges, !reset/!override tags.

Each table row is an attack that once let an image through unscanned: the class is a way of
making Compose pull something the scanner did not read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.engine.scanners.compose import scan_compose, scan_compose_project
from policies.engine.scanners.discover import scan_paths
from policies.engine.scanners.results import ScanResult


def images(result: ScanResult) -> set[str]:
    return {use.image for use in result.images}


def located(result: ScanResult) -> set[tuple[str, str, int, str]]:
    return {(use.image, Path(use.file).name, use.line, use.kind) for use in result.images}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


# --------------------------------------------------------------------------------------
# A service with both image and build: the build is scanned too.


BUILD_WITH_IMAGE_CASES = [
    pytest.param(
        {
            "compose.yaml": (
                "services:\n  app:\n    image: acme/app:1\n    build:\n"
                "      dockerfile_inline: |\n        FROM evil/inline:1\n"
            )
        },
        {"acme/app:1", "evil/inline:1"},
        id="dockerfile_inline",
    ),
    pytest.param(
        {
            "compose.yaml": (
                "services:\n  app:\n    image: acme/app:1\n    build:\n      context: .\n"
                "      dockerfile: build/Special.df\n"
            ),
            "build/Special.df": "FROM evil/named:1\n",
        },
        {"acme/app:1", "evil/named:1"},
        id="named-dockerfile",
    ),
    pytest.param(
        {
            "compose.yaml": (
                "services:\n  app:\n    image: acme/app:1\n    build:\n      context: .\n"
                "      args:\n        BASE: evil/arg:1\n"
            ),
            "Dockerfile": "ARG BASE=alpine:3.20\nFROM $BASE\n",
        },
        {"acme/app:1", "evil/arg:1"},
        id="args-override-arg-default",
    ),
    pytest.param(
        {
            "compose.yaml": (
                "services:\n  app:\n    image: acme/app:1\n    build:\n      context: .\n"
                "      additional_contexts:\n        - alpine=docker-image://evil/ctx:1\n"
            ),
            "Dockerfile": "FROM alpine\n",
        },
        {"acme/app:1", "evil/ctx:1", "alpine"},
        id="additional-contexts-list-form",
    ),
    pytest.param(
        {
            "compose.yaml": (
                "services:\n  app:\n    image: acme/app:1\n    build:\n      context: .\n"
                "      cache_from:\n        - evil/cache:plain\n"
                "        - type=registry,ref=evil/cache:registry\n"
                "        - type=local,src=/tmp/cache\n        - type=gha\n"
            ),
            "Dockerfile": "FROM alpine\n",
        },
        {"acme/app:1", "alpine", "evil/cache:plain", "evil/cache:registry"},
        id="cache_from",
    ),
    pytest.param(
        {
            "compose.yaml": (
                "services:\n  app:\n    image: acme/app:1\n    build:\n      context: .\n"
                "      x-bake:\n        cache-from:\n          - type=registry,ref=evil/bake:1\n"
                "        platforms: [linux/arm64]\n"
            ),
            "Dockerfile": "FROM acme/base-$TARGETARCH\n",
        },
        {"acme/app:1", "evil/bake:1", "acme/base-amd64", "acme/base-arm64"},
        id="x-bake-cache-from-and-platforms",
    ),
    pytest.param(
        {
            "compose.yaml": (
                "services:\n  app:\n    image: acme/app:1\n    build:\n      context: .\n"
                "      platforms: [linux/amd64, linux/arm64]\n"
            ),
            "Dockerfile": "FROM acme/base-$TARGETARCH\n",
        },
        {"acme/app:1", "acme/base-amd64", "acme/base-arm64"},
        id="build-platforms",
    ),
    pytest.param(
        {
            "compose.yaml": (
                "services:\n  app:\n    image: acme/app:1\n    build:\n      context: .\n"
                "      target: release\n"
            ),
            "Dockerfile": "FROM evil/dev:1 AS dev\nFROM alpine AS release\n",
        },
        {"acme/app:1", "evil/dev:1", "alpine"},
        id="target-still-scans-every-stage",
    ),
    pytest.param(
        {
            "compose.yaml": "services:\n  app:\n    image: acme/app:1\n    build: ./src\n",
            "src/dockerfile": "FROM evil/lowercase:1\n",
        },
        {"acme/app:1", "evil/lowercase:1"},
        id="lowercase-dockerfile-fallback",
    ),
]


@pytest.mark.parametrize(("files", "expected"), BUILD_WITH_IMAGE_CASES)
def test_service_with_image_and_build_reports_both(
    tmp_path: Path, files: dict[str, str], expected: set[str]
) -> None:
    write(tmp_path, files)
    result = scan_compose(path=str(tmp_path / "compose.yaml"), environ={})
    assert result.errors == []
    assert images(result) == expected


def test_pull_policy_build_means_the_image_is_only_a_tag(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n  app:\n    image: myapp:dev\n    pull_policy: build\n    build: .\n"
            ),
            "Dockerfile": "FROM alpine:3.20\n",
        },
    )
    result = scan_compose(path=str(tmp_path / "compose.yaml"), environ={})
    assert images(result) == {"alpine:3.20"}


def test_remote_build_context_with_image_is_an_error_not_a_pass(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n  app:\n    image: acme/app:1\n"
                "    build: https://github.com/acme/app.git#main\n"
            )
        },
    )
    result = scan_compose(path=str(tmp_path / "compose.yaml"), environ={})
    assert images(result) == {"acme/app:1"}
    [error] = result.errors
    assert error.line == 4
    assert "remote build context" in error.message
    assert "cannot be scanned" in error.message


@pytest.mark.parametrize(
    "context",
    ["git@github.com:acme/app.git", "github.com/acme/app", "git://example.com/app.git"],
)
def test_every_remote_context_spelling_is_reported(tmp_path: Path, context: str) -> None:
    write(tmp_path, {"compose.yaml": f"services:\n  app:\n    build:\n      context: {context}\n"})
    result = scan_compose(path=str(tmp_path / "compose.yaml"), environ={})
    assert any("remote build context" in err.message for err in result.errors)


# --------------------------------------------------------------------------------------
# Files Compose merges on its own.


@pytest.mark.parametrize(
    ("main", "override"),
    [
        ("compose.yaml", "compose.override.yaml"),
        ("compose.yml", "compose.override.yml"),
        ("docker-compose.yml", "docker-compose.override.yml"),
        ("docker-compose.yaml", "docker-compose.override.yaml"),
        ("compose.yaml", "docker-compose.override.yml"),
    ],
)
def test_override_file_beside_the_main_file_is_merged(
    tmp_path: Path, main: str, override: str
) -> None:
    write(
        tmp_path,
        {
            main: "services:\n  web:\n    image: nginx:1.27\n  api:\n    build: .\n",
            override: (
                "services:\n  web:\n    image: evil/override:1\n"
                "  api:\n    build:\n      args:\n        BASE: evil/args:1\n"
            ),
            "Dockerfile": "ARG BASE=alpine:3.20\nFROM $BASE\n",
        },
    )
    result = scan_paths([str(tmp_path)], environ={})
    assert result.errors == []
    assert {"evil/override:1", "evil/args:1"} <= images(result)
    assert ("evil/override:1", override, 3, "compose") in located(result)


def test_compose_file_in_dotenv_names_files_with_any_name(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".env": "COMPOSE_PATH_SEPARATOR=,\nCOMPOSE_FILE=deploy/base.yml,deploy/prod.yml\n",
            "deploy/base.yml": "services:\n  web:\n    image: nginx\n",
            "deploy/prod.yml": "services:\n  web:\n    image: evil/prod:1\n",
        },
    )
    result = scan_paths([str(tmp_path)], environ={})
    assert result.errors == []
    assert "evil/prod:1" in images(result)


def test_compose_file_from_the_environment_is_read_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: nginx\n",
            "ci/extra.yml": "services:\n  web:\n    image: evil/env:1\n",
        },
    )
    monkeypatch.chdir(tmp_path)
    result = scan_paths(["."], environ={"COMPOSE_FILE": "compose.yaml:ci/extra.yml"})
    assert result.errors == []
    assert "evil/env:1" in images(result)


def test_main_file_alone_is_scanned_as_well_as_merged(tmp_path: Path) -> None:
    # `docker compose -f compose.yaml` skips the override: its image is pulled too.
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: evil/base:1\n",
            "compose.override.yaml": "services:\n  web:\n    image: nginx\n",
        },
    )
    assert images(scan_paths([str(tmp_path)], environ={})) == {"evil/base:1", "nginx"}


def test_explicit_files_merge_in_order_like_repeated_f(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.yml": "services:\n  app:\n    image: acme/app:1\n    build: ./one\n",
            "b.yml": "services:\n  app:\n    build: ./two\n",
            "one/Dockerfile": "FROM alpine\n",
            "two/Dockerfile": "FROM evil/two:1\n",
        },
    )
    result = scan_compose_project([str(tmp_path / "a.yml"), str(tmp_path / "b.yml")], environ={})
    assert result.errors == []
    assert images(result) == {"acme/app:1", "evil/two:1"}


def test_args_merge_across_list_and_mapping_forms(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.yml": (
                "services:\n  app:\n    build:\n      context: .\n"
                "      args:\n        - BASE=alpine\n        - TAG=1\n"
            ),
            "b.yml": "services:\n  app:\n    build:\n      args:\n        TAG: evil\n",
            "Dockerfile": "ARG BASE\nARG TAG\nFROM $BASE:$TAG\n",
        },
    )
    result = scan_compose_project([str(tmp_path / "a.yml"), str(tmp_path / "b.yml")], environ={})
    assert images(result) == {"alpine:evil"}


def test_build_context_of_a_later_file_resolves_against_the_project_directory(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  app:\n    image: acme/app\n",
            "ops/extra.yml": "services:\n  app:\n    build: ./svc\n",
            "svc/Dockerfile": "FROM evil/svc:1\n",
        },
    )
    files = [str(tmp_path / "compose.yaml"), str(tmp_path / "ops" / "extra.yml")]
    assert "evil/svc:1" in images(scan_compose_project(files, environ={}))


# --------------------------------------------------------------------------------------
# include, extends, tags, anchors, documents, profiles.


def test_include_path_list_is_merged_and_the_includer_overrides_it(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": (
                "include:\n  - path: [lib/base.yml, lib/more.yml]\n"
                "services:\n  db:\n    build:\n      args:\n        BASE: evil/includer:1\n"
            ),
            "lib/base.yml": "services:\n  db:\n    image: postgres\n    build: ./db\n",
            "lib/more.yml": "services:\n  db:\n    image: evil/more:1\n",
            "lib/db/Dockerfile": "ARG BASE=postgres:16\nFROM $BASE\n",
        },
    )
    result = scan_compose(path=str(tmp_path / "compose.yaml"), environ={})
    assert result.errors == []
    assert images(result) == {"evil/more:1", "evil/includer:1"}


def test_remote_include_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": "include:\n  - oci://docker.io/acme/stack:1\n"})
    result = scan_compose(path=str(tmp_path / "compose.yaml"), environ={})
    assert any("cannot be scanned" in err.message for err in result.errors)


def test_extends_from_another_file_carries_its_build_and_args(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n  app:\n    image: acme/app\n"
                "    extends:\n      file: lib/common.yml\n      service: base\n"
            ),
            "lib/common.yml": (
                "services:\n  base:\n    build:\n      context: ./ctx\n"
                "      args:\n        BASE: evil/extends:1\n"
            ),
            "lib/ctx/Dockerfile": "ARG BASE=alpine\nFROM $BASE\n",
        },
    )
    result = scan_compose(path=str(tmp_path / "compose.yaml"), environ={})
    assert result.errors == []
    assert images(result) == {"acme/app", "evil/extends:1"}


def test_reset_tag_removes_and_override_tag_replaces(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.yml": (
                "services:\n  app:\n    image: evil/reset:1\n    build:\n      context: .\n"
                "      args:\n        BASE: alpine\n"
            ),
            "b.yml": (
                "services:\n  app:\n    image: !reset null\n    build: !override\n"
                "      dockerfile_inline: FROM evil/override:1\n"
            ),
            "Dockerfile": "ARG BASE\nFROM $BASE\n",
        },
    )
    result = scan_compose_project([str(tmp_path / "a.yml"), str(tmp_path / "b.yml")], environ={})
    assert result.errors == []
    assert images(result) == {"evil/override:1"}


def test_anchors_and_merge_keys_carry_builds(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": (
                "x-build: &build\n  build:\n    context: .\n    args:\n      BASE: evil/anchor:1\n"
                "services:\n  app:\n    <<: *build\n    image: acme/app\n"
            ),
            "Dockerfile": "ARG BASE=alpine\nFROM $BASE\n",
        },
    )
    result = scan_compose(path=str(tmp_path / "compose.yaml"), environ={})
    assert images(result) == {"acme/app", "evil/anchor:1"}


def test_every_yaml_document_of_a_file_is_merged(tmp_path: Path) -> None:
    text = "services:\n  a:\n    image: nginx\n---\nservices:\n  b:\n    image: evil/second:1\n"
    write(tmp_path, {"compose.yaml": text})
    result = scan_compose(path=str(tmp_path / "compose.yaml"), environ={})
    assert result.errors == []
    assert images(result) == {"nginx", "evil/second:1"}


def test_services_in_inactive_profiles_are_scanned_by_default(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"compose.yaml": "services:\n  debug:\n    image: evil/debug:1\n    profiles: [debug]\n"},
    )
    result = scan_compose(path=str(tmp_path / "compose.yaml"), environ={"COMPOSE_PROFILES": ""})
    assert images(result) == {"evil/debug:1"}


# --------------------------------------------------------------------------------------
# A Dockerfile that Compose builds is also a Dockerfile someone can `docker build`.


def test_compose_built_dockerfile_is_also_scanned_with_its_own_defaults(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n  app:\n    build:\n      context: .\n"
                "      args:\n        BASE: alpine:3.20\n"
            ),
            "Dockerfile": "ARG BASE=evil/default:1\nFROM $BASE\n",
        },
    )
    result = scan_paths([str(tmp_path)], environ={})
    assert result.errors == []
    assert images(result) == {"alpine:3.20", "evil/default:1"}


def test_compose_built_dockerfile_needing_an_arg_is_not_an_error_on_its_own(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n  app:\n    build:\n      context: .\n      args:\n        V: '3.12'\n"
            ),
            "Dockerfile": "ARG V\nFROM python:${V:?}\n",
        },
    )
    result = scan_paths([str(tmp_path)], environ={})
    assert result.errors == []
    assert images(result) == {"python:3.12"}


def test_a_repeated_key_is_an_error_as_in_compose(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": "services:\n  a:\n    image: nginx\n    image: evil/dup:1\n"})
    result = scan_compose(path=str(tmp_path / "compose.yaml"), environ={})
    assert [(err.line, err.message) for err in result.errors] == [
        (4, 'mapping key "image" already defined at line 3')
    ]


def test_compose_env_files_from_the_environment_replace_dotenv(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  a:\n    image: ${IMAGE}\n",
            ".env": "IMAGE=nginx\n",
            "ci.env": "IMAGE=evil/ci:1\n",
        },
    )
    result = scan_paths([str(tmp_path)], environ={"COMPOSE_ENV_FILES": str(tmp_path / "ci.env")})
    assert images(result) == {"evil/ci:1"}


def _laughs(levels: int) -> str:
    lines = ["x-l0: &l0 {a: b}"]
    for i in range(1, levels):
        lines.append(f"x-l{i}: &l{i} {{k1: *l{i - 1}, k2: *l{i - 1}, k3: *l{i - 1}}}")
    lines.append(f"services:\n  s:\n    image: nginx\n    labels: *l{levels - 1}")
    return "\n".join(lines) + "\n"


def test_merging_alias_bombs_ends_with_an_error_not_a_hang(tmp_path: Path) -> None:
    write(tmp_path, {"a.yml": _laughs(30), "b.yml": _laughs(30)})
    result = scan_compose_project([str(tmp_path / "a.yml"), str(tmp_path / "b.yml")], environ={})
    assert [err.message for err in result.errors] == ["Compose project too large to merge"]


def test_a_very_long_extends_chain_is_an_error_not_a_crash(tmp_path: Path) -> None:
    lines = ["services:", "  s0:", "    image: nginx"]
    for i in range(1, 3000):
        lines += [f"  s{i}:", f"    extends: s{i - 1}"]
    write(tmp_path, {"compose.yaml": "\n".join(lines) + "\n"})
    result = scan_compose(path=str(tmp_path / "compose.yaml"), environ={})
    assert result.errors or images(result) == {"nginx"}


def test_image_volumes_and_models_are_pulls(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n  app:\n    image: nginx\n    volumes:\n"
                "      - type: image\n        source: evil/volume:1\n        target: /data\n"
                "      - ./local:/local\n"
                "  llm:\n    provider:\n      type: model\n      options:\n"
                "        model: evil/provider-model\n"
                "models:\n  chat:\n    model: evil/model:1\n"
            )
        },
    )
    result = scan_compose(path=str(tmp_path / "compose.yaml"), environ={})
    assert result.errors == []
    assert located(result) == {
        ("nginx", "compose.yaml", 3, "compose"),
        ("evil/volume:1", "compose.yaml", 6, "compose"),
        ("evil/provider-model", "compose.yaml", 13, "compose"),
        ("evil/model:1", "compose.yaml", 16, "compose"),
    }


def test_dockerfile_and_dockerfile_inline_together_are_refused_like_compose(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "a.yml": "services:\n  app:\n    build:\n      dockerfile: Other.Dockerfile\n",
            "b.yml": "services:\n  app:\n    build:\n      dockerfile_inline: FROM alpine\n",
            "Other.Dockerfile": "FROM busybox\n",
        },
    )
    result = scan_compose_project([str(tmp_path / "a.yml"), str(tmp_path / "b.yml")], environ={})
    assert [err.message for err in result.errors] == [
        "service 'app' declares mutually exclusive dockerfile and dockerfile_inline"
    ]


def test_hook_images_are_pulls(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": (
                "services:\n  app:\n    image: nginx\n    pre_start:\n"
                "      - image: evil/hook:1\n        command: [migrate]\n"
                "    post_start:\n      - command: [echo]\n"
            )
        },
    )
    result = scan_compose(path=str(tmp_path / "compose.yaml"), environ={})
    assert result.errors == []
    assert ("evil/hook:1", "compose.yaml", 5, "compose") in located(result)
