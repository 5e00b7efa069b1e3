"""Compose projects: services, build through Dockerfiles, extends, profiles, lines, errors."""

from __future__ import annotations

from pathlib import Path

from policies.engine.scanners.compose import scan_compose
from policies.engine.scanners.results import ScanResult

FIXTURES = Path(__file__).parent / "fixtures"


def pulls(result: ScanResult) -> list[tuple[str, str, int, str]]:
    return [(use.image, Path(use.file).name, use.line, use.kind) for use in result.images]


def compose(tmp_path: Path, text: str, **kw: object) -> ScanResult:
    path = tmp_path / "compose.yaml"
    path.write_text(text)
    kw.setdefault("environ", {})
    return scan_compose(path=str(path), **kw)  # type: ignore[arg-type]


def test_realistic_project_reports_images_dockerfiles_and_extends() -> None:
    path = FIXTURES / "project" / "compose.yaml"
    result = scan_compose(path=str(path), environ={})
    assert result.errors == []
    assert pulls(result) == [
        ("nginx:1.27", "compose.yaml", 9, "compose"),  # from .env (export prefix)
        ("python:3.12-slim-bookworm", "Dockerfile", 3, "from"),  # build.args + .env
        ("ghcr.io/astral-sh/uv:0.5.11", "Dockerfile", 4, "copy-from"),
        ("python:3.12-slim", "Worker.Dockerfile", 2, "from"),  # args inherited via extends
        ("docker.io/acme/base:2.0", "compose.yaml", 5, "compose"),  # YAML merge key
        ("postgres:16-alpine", "common.yaml", 3, "compose"),  # extends.file
        ("acme/admin:1.0", "compose.yaml", 30, "compose"),  # profiles: all by default
        ("acme/docs:1", "compose.yaml", 37, "compose"),  # image and build both count
        ("acme/docs-base:1", "compose.yaml", 36, "from"),  # inline Dockerfile, remote context
    ]


def test_process_environment_wins_over_dotenv() -> None:
    path = FIXTURES / "project" / "compose.yaml"
    result = scan_compose(path=str(path), environ={"NGINX_VERSION": "1.25", "TAG": "3"})
    assert ("nginx:1.25", "compose.yaml", 9, "compose") in pulls(result)
    assert ("docker.io/acme/base:3", "compose.yaml", 5, "compose") in pulls(result)


def test_profiles_select_services_and_keep_unprofiled_ones() -> None:
    path = FIXTURES / "project" / "compose.yaml"
    images = {
        use.image for use in scan_compose(path=str(path), environ={}, profiles=["other"]).images
    }
    assert "acme/admin:1.0" not in images
    assert "nginx:1.27" in images
    images = {
        use.image for use in scan_compose(path=str(path), environ={}, profiles=["debug"]).images
    }
    assert "acme/admin:1.0" in images
    images = {use.image for use in scan_compose(path=str(path), environ={}, profiles=["*"]).images}
    assert "acme/admin:1.0" in images


def test_image_line_is_the_line_of_the_image_value(tmp_path: Path) -> None:
    text = "services:\n  a:\n    image: >-\n      redis:7\n  b: {image: 'memcached:1.6'}\n"
    assert pulls(compose(tmp_path, text)) == [
        ("redis:7", "compose.yaml", 3, "compose"),
        ("memcached:1.6", "compose.yaml", 5, "compose"),
    ]


def test_build_string_context_scans_its_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM node:20\n")
    result = compose(tmp_path, "services:\n  app:\n    build: ./app\n")
    assert pulls(result) == [("node:20", "Dockerfile", 1, "from")]
    assert result.images[0].file == str(tmp_path / "app" / "Dockerfile")


def test_build_args_as_list_and_from_environment(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("ARG A=x\nARG B=y\nARG C=z\nFROM img-$A-$B-$C\n")
    text = (
        "services:\n  s:\n    build:\n      context: .\n"
        "      args:\n        - A=1\n        - B\n        - C\n"
    )
    result = compose(tmp_path, text, environ={"B": "2"})
    assert pulls(result) == [("img-1-2-z", "Dockerfile", 4, "from")]


def test_build_args_mapping_null_value_reads_environment(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("ARG V=default\nFROM alpine:$V\n")
    text = "services:\n  s:\n    build:\n      context: .\n      args:\n        V:\n"
    assert pulls(compose(tmp_path, text, environ={"V": "3.20"}))[0][0] == "alpine:3.20"
    assert pulls(compose(tmp_path, text))[0][0] == "alpine:default"


def test_dockerfile_inline_lines_are_counted_in_the_compose_file(tmp_path: Path) -> None:
    text = (
        "services:\n"
        "  s:\n"
        "    build:\n"
        "      dockerfile_inline: |\n"
        "        FROM alpine\n"
        "        COPY --from=busybox / /\n"
    )
    assert pulls(compose(tmp_path, text)) == [
        ("alpine", "compose.yaml", 5, "from"),
        ("busybox", "compose.yaml", 6, "copy-from"),
    ]


def test_additional_context_docker_image_is_a_pull(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM base\n")
    text = (
        "services:\n  s:\n    build:\n      context: .\n"
        "      additional_contexts:\n        base: docker-image://alpine:3.20\n"
    )
    result = compose(tmp_path, text)
    assert ("alpine:3.20", "compose.yaml", 6, "compose") in pulls(result)


def test_image_and_build_count_both(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM built-from\n")
    result = compose(tmp_path, "services:\n  s:\n    image: acme/app:1\n    build: .\n")
    assert pulls(result) == [
        ("acme/app:1", "compose.yaml", 3, "compose"),
        ("built-from", "Dockerfile", 1, "from"),
    ]


def test_extends_chain_in_same_file_overrides_image(tmp_path: Path) -> None:
    text = (
        "services:\n"
        "  base:\n    image: python:3.11\n"
        "  mid:\n    extends: base\n"
        "  top:\n    extends: {service: mid}\n    image: python:3.12\n"
    )
    # base and mid pull the same image from the same line: reported once.
    assert pulls(compose(tmp_path, text)) == [
        ("python:3.11", "compose.yaml", 3, "compose"),
        ("python:3.12", "compose.yaml", 8, "compose"),
    ]


def test_extends_cycle_is_an_error(tmp_path: Path) -> None:
    text = "services:\n  a:\n    extends: b\n  b:\n    extends: a\n"
    result = compose(tmp_path, text)
    assert any("circular reference with extends" in err.message for err in result.errors)


def test_extends_unknown_service_is_an_error(tmp_path: Path) -> None:
    result = compose(tmp_path, "services:\n  a:\n    image: x\n    extends: nope\n")
    assert result.errors[0].line == 4
    assert "service not found" in result.errors[0].message


def test_extends_other_file_resolves_build_context_there(tmp_path: Path) -> None:
    (tmp_path / "lib" / "svc").mkdir(parents=True)
    (tmp_path / "lib" / "svc" / "Dockerfile").write_text("FROM golang:1.23\n")
    (tmp_path / "lib" / "base.yml").write_text("services:\n  go:\n    build: ./svc\n")
    result = compose(
        tmp_path, "services:\n  a:\n    extends:\n      file: lib/base.yml\n      service: go\n"
    )
    assert pulls(result) == [("golang:1.23", "Dockerfile", 1, "from")]


def test_required_variable_error_reports_path_line_and_message(tmp_path: Path) -> None:
    result = compose(tmp_path, "services:\n  web:\n    image: nginx:${TAG:?TAG must be set}\n")
    assert result.images == []
    [error] = result.errors
    assert (Path(error.file).name, error.line) == ("compose.yaml", 3)
    assert error.message == (
        "error while interpolating services.web.image: "
        "required variable TAG is missing a value: TAG must be set"
    )


def test_required_variable_anywhere_fails_like_compose(tmp_path: Path) -> None:
    text = "services:\n  web:\n    image: nginx\n    environment:\n      - KEY=${KEY?}\n"
    result = compose(tmp_path, text)
    assert [err.line for err in result.errors] == [5]


def test_invalid_template_is_an_error(tmp_path: Path) -> None:
    result = compose(tmp_path, "services:\n  web:\n    image: nginx:${\n")
    assert result.errors[0].line == 3
    assert "invalid interpolation format for services.web.image" in result.errors[0].message


def test_dollar_dollar_is_a_literal_dollar(tmp_path: Path) -> None:
    result = compose(tmp_path, "services:\n  a:\n    image: alpine\n    command: echo $$HOME\n")
    assert result.errors == []


def test_malformed_yaml_is_an_error_with_line(tmp_path: Path) -> None:
    result = compose(tmp_path, "services:\n  web:\n    image: [unclosed\n  db:\n")
    assert result.images == []
    assert result.errors[0].line is not None
    assert result.errors[0].message.startswith("invalid YAML")


def test_service_without_image_or_build_is_an_error(tmp_path: Path) -> None:
    result = compose(tmp_path, "services:\n  a:\n    command: true\n")
    assert result.errors[0].line == 3
    assert "neither an image nor a build context" in result.errors[0].message


def test_null_service_is_an_error_not_silently_skipped(tmp_path: Path) -> None:
    result = compose(tmp_path, "services:\n  a:\n  b:\n    image: redis\n")
    assert [use.image for use in result.images] == ["redis"]
    assert result.errors[0].line == 2
    assert "neither an image nor a build context" in result.errors[0].message


def test_missing_dockerfile_is_an_error_at_the_build_line(tmp_path: Path) -> None:
    result = compose(tmp_path, "services:\n  a:\n    build:\n      context: ./nope\n")
    assert result.errors[0].line == 3
    assert "cannot read Dockerfile" in result.errors[0].message


def test_remote_build_context_cannot_be_scanned(tmp_path: Path) -> None:
    result = compose(tmp_path, "services:\n  a:\n    build: https://github.com/x/y.git\n")
    assert "remote build context" in result.errors[0].message


def test_invalid_image_reference_is_an_error(tmp_path: Path) -> None:
    result = compose(tmp_path, "services:\n  a:\n    image: Nginx\n")
    assert result.images == []
    assert result.errors[0].line == 3


def test_dockerfile_errors_keep_the_dockerfile_location(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM alpine\nCOPY --from=$X / /\n")
    result = compose(tmp_path, "services:\n  a:\n    build: .\n")
    [error] = result.errors
    assert (Path(error.file).name, error.line) == ("Dockerfile", 2)


def test_same_dockerfile_built_twice_is_reported_once(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM alpine\n")
    result = compose(tmp_path, "services:\n  a:\n    build: .\n  b:\n    build: .\n")
    assert pulls(result) == [("alpine", "Dockerfile", 1, "from")]


def test_include_scans_the_included_project(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "compose.yaml").write_text(
        "services:\n  db:\n    image: postgres:${PG:-16}\n"
    )
    (tmp_path / "sub" / ".env").write_text("PG=17\n")
    result = compose(
        tmp_path, "include:\n  - sub/compose.yaml\nservices:\n  a:\n    image: redis\n"
    )
    assert [use.image for use in result.images] == ["postgres:17", "redis"]


def test_empty_and_non_mapping_files_are_errors(tmp_path: Path) -> None:
    assert compose(tmp_path, "").errors[0].message == "empty compose file"
    assert "mapping" in compose(tmp_path, "- a\n- b\n").errors[0].message


def test_recursive_alias_is_an_error_not_a_crash(tmp_path: Path) -> None:
    result = compose(tmp_path, "a: &x\n  b: *x\n")
    assert result.errors


def test_platform_of_the_service_sets_target_args(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM acme/base-$TARGETARCH\n")
    text = "services:\n  a:\n    build: .\n    platform: linux/arm64\n"
    assert pulls(compose(tmp_path, text))[0][0] == "acme/base-arm64"
