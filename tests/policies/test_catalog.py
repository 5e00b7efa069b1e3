"""``manage.py import_catalog`` and ``manage.py classify``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from policies.models import PublisherNamespace, SnapshotVersion
from policies.services import update_policy
from tests.conftest import Cast

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_json_import_reports_added_changed_removed(tmp_path: Path) -> None:
    PublisherNamespace.objects.create(namespace="gone", kind="verified_publisher")
    PublisherNamespace.objects.create(namespace="bitnami", kind="sponsored_oss")
    path = write(
        tmp_path,
        "catalog.json",
        json.dumps(
            [
                {"namespace": "bitnami", "kind": "verified_publisher", "note": "VMware"},
                {"namespace": "localstack", "kind": "sponsored_oss", "note": ""},
            ]
        ),
    )
    output = run("import_catalog", str(path))
    assert "added: 1 (localstack)" in output
    assert "changed: 1 (bitnami)" in output
    assert "removed: 1 (gone)" in output
    assert dict(PublisherNamespace.objects.values_list("namespace", "kind")) == {
        "bitnami": "verified_publisher",
        "localstack": "sponsored_oss",
    }
    assert SnapshotVersion.objects.get().version > 1


def test_csv_import_and_a_second_identical_import_changes_nothing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.csv",
        "namespace,kind,note\ngrafana,verified_publisher,Grafana Labs\n",
    )
    run("import_catalog", str(path))
    output = run("import_catalog", str(path))
    assert "added: 0" in output
    assert "changed: 0" in output
    assert "removed: 0" in output


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.json", "{not json", "not valid JSON"),
        ("c.json", '{"namespace": "x"}', "a JSON catalog is a list"),
        ("c.json", '[{"namespace": "x", "kind": "gold"}]', "entry 1: kind must be"),
        ("c.json", '[{"kind": "sponsored_oss"}]', "entry 1: namespace is missing"),
        ("c.json", '[{"namespace": "Bad NS", "kind": "sponsored_oss"}]', "entry 1: namespace"),
        ("c.json", '[{"namespace": "library", "kind": "sponsored_oss"}]', "not a Docker Hub"),
        (
            "c.json",
            '[{"namespace": "a", "kind": "sponsored_oss"}, {"namespace": "a", '
            '"kind": "sponsored_oss"}]',
            "entry 2: namespace 'a' is listed twice",
        ),
        ("c.csv", "ns,type\na,b\n", "header namespace,kind,note"),
        ("c.txt", "whatever", "unknown catalog format"),
    ],
)
def test_bad_catalog_files_are_refused_and_change_nothing(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    PublisherNamespace.objects.create(namespace="keep", kind="verified_publisher")
    with pytest.raises(CommandError, match=message):
        run("import_catalog", str(write(tmp_path, name, text)))
    assert list(PublisherNamespace.objects.values_list("namespace", flat=True)) == ["keep"]


def test_missing_catalog_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read"):
        run("import_catalog", str(tmp_path / "absent.json"))


def test_classify_shows_category_catalog_and_decision(cast: Cast) -> None:
    PublisherNamespace.objects.create(namespace="localstack", kind="sponsored_oss")
    update_policy(org=cast.acme, actor=cast.olivia, changes={"enabled": True})
    output = run("classify", "localstack/localstack", "nginx", "--user", "mike", "--org", "acme")
    assert "category:  community" in output
    assert "localstack: Docker-Sponsored Open Source" in output
    assert "DENIED under acme" in output
    assert "image access denied: community images not allowed" in output
    assert "official images allowed" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nginx", "--user", "ghost"], "no user named 'ghost'"),
        (["nginx", "--org", "nowhere"], "unknown organization: nowhere"),
        (["UPPER"], "some images are not valid references"),
    ],
)
def test_classify_bad_input(cast: Cast, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("classify", *args)
