"""Reading catalog files (JSON or CSV) for ``manage.py import_catalog``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from policies.services import CatalogEntry, PolicyError, validate_catalog

CSV_HEADER = ["namespace", "kind", "note"]


def parse_catalog(text: str, *, fmt: str) -> list[CatalogEntry]:
    """Parse catalog text in ``fmt`` (``json`` or ``csv``); raise ``PolicyError`` if invalid."""
    rows: list[Any]
    if fmt == "json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
        if not isinstance(rows, list):
            raise PolicyError("a JSON catalog is a list of {namespace, kind, note} objects")
    elif fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != CSV_HEADER:
            raise PolicyError("a CSV catalog starts with the header namespace,kind,note")
        rows = list(reader)
    else:
        raise PolicyError(f"unknown catalog format {fmt!r}: use .json or .csv")
    return validate_catalog(rows)


def read_catalog_file(path: Path) -> list[CatalogEntry]:
    """Read and validate a catalog file; the format follows the file's extension."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PolicyError(f"{path} is not UTF-8 text") from None
    return parse_catalog(text, fmt=path.suffix.lower().lstrip("."))
