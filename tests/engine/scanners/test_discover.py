"""Discovery walks directories recursively, classifies files by name and combines results."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.engine.scanners.discover import classify, discover, scan_paths


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Dockerfile", "dockerfile"),
        ("dockerfile", "dockerfile"),
        ("api.Dockerfile", "dockerfile"),
        ("Dockerfile.prod", "dockerfile"),
        ("Dockerfile.dockerignore", None),
        ("compose.yaml", "compose"),
        ("compose.yml", "compose"),
        ("docker-compose.yaml", "compose"),
        ("docker-compose.yml", "compose"),
        ("other.yaml", None),
        ("README.md", None),
        # Podman's name, and every case a case-insensitive file system builds.
        ("Containerfile", "dockerfile"),
        ("containerfile", "dockerfile"),
        ("api.Containerfile", "dockerfile"),
        ("Containerfile.dev", "dockerfile"),
        ("DOCKERFILE", "dockerfile"),
        ("App.DockerFile", "dockerfile"),
        ("x.containerignore", None),
        # Source files and documents named after Dockerfiles are decided by content.
        ("dockerfile.go", None),
        ("Dockerfile.md", None),
        ("Dockerfile.j2", "dockerfile"),
        ("Compose.YAML", "compose"),
        ("Docker-Compose.yml", "compose"),
        # Files Compose merges on its own, and Podman's Compose names.
        ("compose.override.yml", "compose"),
        ("compose.override.yaml", "compose"),
        ("docker-compose.override.yml", "compose"),
        ("docker-compose.override.yaml", "compose"),
        ("podman-compose.yml", "compose"),
        ("container-compose.yaml", "compose"),
    ],
)
def test_files_are_classified_by_name(name: str, kind: str | None) -> None:
    assert classify(name) == kind


def test_walk_is_recursive_sorted_and_skips_vcs_and_node_modules(tmp_path: Path) -> None:
    for rel in [
        "b/Dockerfile",
        "a/x.Dockerfile",
        ".git/Dockerfile",
        "node_modules/p/Dockerfile",
        "compose.yml",
        "notes.txt",
    ]:
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("FROM alpine\n")
    found = [
        (Path(p).relative_to(tmp_path).as_posix(), kind) for p, kind in discover([str(tmp_path)])
    ]
    assert found == [
        ("compose.yml", "compose"),
        ("a/x.Dockerfile", "dockerfile"),
        ("b/Dockerfile", "dockerfile"),
    ]


def test_explicit_files_are_scanned_whatever_their_name(tmp_path: Path) -> None:
    (tmp_path / "build.df").write_text("FROM alpine\n")
    (tmp_path / "stack.yml").write_text("services:\n  a:\n    image: redis\n")
    result = scan_paths([str(tmp_path / "build.df"), str(tmp_path / "stack.yml")], environ={})
    assert [use.image for use in result.images] == ["redis", "alpine"]


def test_nonexistent_path_is_a_scan_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    result = scan_paths([missing])
    assert [(err.file, err.line, err.message) for err in result.errors] == [
        (missing, None, "no such file or directory")
    ]


def test_dockerfile_built_by_compose_is_scanned_with_its_args_only(tmp_path: Path) -> None:
    # On its own this Dockerfile has a blank base name; through compose it is valid.
    (tmp_path / "Dockerfile").write_text("ARG BASE\nFROM $BASE\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    build:\n      context: .\n      args: {BASE: 'alpine:3'}\n"
    )
    result = scan_paths([str(tmp_path)], environ={})
    assert result.errors == []
    assert [use.image for use in result.images] == ["alpine:3"]


def test_build_args_apply_to_standalone_dockerfiles(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("ARG V=1\nFROM busybox:$V\n")
    result = scan_paths([str(tmp_path)], build_args={"V": "2"})
    assert [use.image for use in result.images] == ["busybox:2"]


def test_fixture_tree_combines_compose_and_dockerfiles() -> None:
    root = Path(__file__).parent / "fixtures"
    result = scan_paths([str(root)], environ={})
    assert result.errors == []
    files = {Path(use.file).name for use in result.images}
    assert files == {
        "compose.yaml",
        "common.yaml",
        "Dockerfile",
        "Worker.Dockerfile",
        "ci.Dockerfile",
    }


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def test_files_named_like_dockerfiles_are_scanned_when_they_start_like_one(
    tmp_path: Path,
) -> None:
    _tree(
        tmp_path,
        {
            "Dockerfile-dev": "# dev image\nFROM evil/dev:1\n",
            "prod_containerfile": "ARG V=1\nFROM evil/prod:$V\n",
            "dockerfile-notes.md": "Notes about our Dockerfile.\n",
            "docs/Dockerfile.txt.orig.bak": "",
        },
    )
    found = {Path(p).name for p, kind in discover([str(tmp_path)]) if kind == "dockerfile"}
    assert {"Dockerfile-dev", "prod_containerfile"} <= found
    assert "dockerfile-notes.md" not in found
    result = scan_paths([str(tmp_path)], environ={})
    assert {"evil/dev:1", "evil/prod:1"} <= {use.image for use in result.images}


def test_yaml_files_holding_compose_services_are_scanned_whatever_their_name(
    tmp_path: Path,
) -> None:
    _tree(
        tmp_path,
        {
            "deploy/stack.yml": "services:\n  web:\n    image: evil/stack:1\n",
            "deploy/flow.yaml": "services: {api: {build: {dockerfile_inline: FROM evil/flow}}}\n",
            ".gitlab-ci.yml": "services:\n  - postgres:16\ntest:\n  script: [true]\n",
            "chart/values.yaml": "services:\n  web:\n    image:\n      repository: nginx\n",
            "k8s/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\n",
        },
    )
    result = scan_paths([str(tmp_path)], environ={})
    assert result.errors == []
    assert {use.image for use in result.images} == {"evil/stack:1", "evil/flow"}


def test_an_override_file_without_a_main_file_is_scanned_on_its_own(tmp_path: Path) -> None:
    _tree(tmp_path, {"compose.override.yml": "services:\n  web:\n    image: evil/orphan:1\n"})
    result = scan_paths([str(tmp_path)], environ={})
    assert [use.image for use in result.images] == ["evil/orphan:1"]


def test_compose_file_in_dotenv_with_a_missing_file_is_an_error(tmp_path: Path) -> None:
    _tree(tmp_path, {".env": "COMPOSE_FILE=compose.yaml:missing.yml\n", "compose.yaml": ""})
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: redis\n")
    result = scan_paths([str(tmp_path)], environ={})
    assert any("missing.yml" in err.file for err in result.errors)


def test_a_dockerfile_reached_by_the_walk_and_by_compose_is_reported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tree(
        tmp_path,
        {
            "app/Dockerfile": "FROM alpine:3.20\n",
            "compose.yaml": "services:\n  app:\n    build: ./app\n",
        },
    )
    monkeypatch.chdir(tmp_path)
    result = scan_paths(["."], environ={})
    assert [(use.image, use.file, use.line) for use in result.images] == [
        ("alpine:3.20", "app/Dockerfile", 1)
    ]


def test_padding_does_not_hide_a_loosely_named_build_file(tmp_path: Path) -> None:
    padding = "# " + "x" * 200 + "\n"
    _tree(
        tmp_path,
        {
            "Dockerfile-padded": padding * 6000 + "FROM evil/padded:1\n",
            "deploy/stack.yml": padding * 6000 + "services:\n  a:\n    image: evil/padded:2\n",
        },
    )
    result = scan_paths([str(tmp_path)], environ={})
    assert {"evil/padded:1", "evil/padded:2"} <= {use.image for use in result.images}


def test_source_files_named_after_dockerfiles_are_read_only_when_buildkit_would_build_them(
    tmp_path: Path,
) -> None:
    _tree(
        tmp_path,
        {
            "pkg/dockerfile.go": "package dockerfile\n\nfunc X() {}\n",
            "docs/Dockerfile.md": "# Our Dockerfile\n\nUse FROM alpine.\n",
            "ci/Dockerfile.sh": "# syntax=evil/frontend:1\nanything the frontend reads\n",
        },
    )
    result = scan_paths([str(tmp_path)], environ={})
    assert [use.image for use in result.images] == ["evil/frontend:1"]
    assert all(Path(err.file).name == "Dockerfile.sh" for err in result.errors)
