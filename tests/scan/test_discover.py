"""Discovery walks directories recursively, classifies files by name and combines results."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.scan.discover import classify, discover, scan_paths


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
