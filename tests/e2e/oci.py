"""Build a tiny but valid OCI image layout in pure Python (no Docker, no network).

The layout is what ``skopeo copy oci:DIR docker://...`` reads, so end-to-end tests can push a
real image into a throw-away upstream registry and pull it back through the mirror.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

# Fixed timestamps make the image (and so its digests) reproducible from run to run.
_EPOCH_ISO = "2024-01-01T00:00:00Z"
_EPOCH = 1704067200


@dataclass(frozen=True)
class OciImage:
    """Where an image layout was written and the digests that identify the image."""

    layout_dir: Path
    tag: str
    manifest_digest: str
    config_digest: str
    layer_digest: str
    diff_id: str


def _json_bytes(obj: object) -> bytes:
    # Canonical-ish JSON: stable key order, no whitespace, so digests are deterministic.
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _write_blob(layout_dir: Path, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = layout_dir / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest, len(data)


def make_layer(files: Mapping[str, bytes]) -> tuple[bytes, bytes]:
    """Return ``(tar_bytes, gzip_bytes)`` of a layer holding ``files`` (path -> content).

    Parent directories are added as entries so extraction does not depend on implicit creation.
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name in sorted(files):
            parts = name.strip("/").split("/")
            for i in range(1, len(parts)):
                dirname = "/".join(parts[:i])
                if dirname not in dirs:
                    dirs.add(dirname)
                    info = tarfile.TarInfo(dirname)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = _EPOCH
                    tar.addfile(info)
            data = files[name]
            info = tarfile.TarInfo(name.strip("/"))
            info.size = len(data)
            info.mode = 0o755 if name.startswith(("bin/", "/bin/")) else 0o644
            info.mtime = _EPOCH
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    # mtime=0 keeps the gzip header, and so the compressed digest, reproducible.
    return tar_bytes, gzip.compress(tar_bytes, mtime=0)


def build_oci_layout(
    layout_dir: str | Path,
    *,
    tag: str = "latest",
    files: Mapping[str, bytes] | None = None,
    labels: Mapping[str, str] | None = None,
) -> OciImage:
    """Write a single-platform (linux/amd64) OCI image layout into ``layout_dir``.

    The image has one gzip'd layer (by default a single file ``hello.txt``), a config whose
    ``rootfs.diff_ids`` match that layer, and a manifest referenced from ``index.json`` under
    ``org.opencontainers.image.ref.name = tag``. Returns the digests for assertions.
    """
    root = Path(layout_dir)
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_bytes(_json_bytes({"imageLayoutVersion": "1.0.0"}))

    tar_bytes, gz_bytes = make_layer(files or {"hello.txt": b"hello from imageaccess tests\n"})
    diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    layer_digest, layer_size = _write_blob(root, gz_bytes)

    config = {
        "created": _EPOCH_ISO,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/hello.txt"],
            "Labels": dict(labels or {"org.opencontainers.image.title": "imageaccess-test"}),
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": _EPOCH_ISO, "created_by": "imageaccess tests/e2e/oci.py"}],
    }
    config_digest, config_size = _write_blob(root, _json_bytes(config))

    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": MEDIA_LAYER_GZIP, "digest": layer_digest, "size": layer_size}],
    }
    manifest_digest, manifest_size = _write_blob(root, _json_bytes(manifest))

    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [
            {
                "mediaType": MEDIA_MANIFEST,
                "digest": manifest_digest,
                "size": manifest_size,
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (root / "index.json").write_bytes(_json_bytes(index))
    return OciImage(
        layout_dir=root,
        tag=tag,
        manifest_digest=manifest_digest,
        config_digest=config_digest,
        layer_digest=layer_digest,
        diff_id=diff_id,
    )
