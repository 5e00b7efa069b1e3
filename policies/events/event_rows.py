"""Decision event rows: built from a request's decisions, inserted idempotently.

A row is a plain dict, the same whether it waits in the Redis stream or goes to the database
at once, so the writer, the outage batch and the drain all store it with ``store_rows``.
Inserts skip a row whose ``event_id`` is already stored: a batch stored twice (a drain
killed before it acknowledged) stores each event once.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import connection

from policies.decision_service import ImageOutcome
from policies.engine.classify import registry_host
from policies.models import DecisionEvent


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who asked, through which enforcer, from where."""

    enforcer: str
    user_id: int | None = None
    username: str = ""
    token_id: int | None = None
    client_address: str | None = None
    user_agent: str = ""
    client_host: str = ""


def new_event_id() -> str:
    """A unique key that sorts by time: microseconds since the epoch, then 72 random bits.

    The unique index on it then grows at its right edge, as the other indexes of the event
    table do, instead of touching a random page of an ever larger index for every insert.
    """
    return f"{time.time_ns() // 1000:014x}{secrets.token_hex(9)}"


def event_rows(
    outcomes: Sequence[ImageOutcome], context: RequestContext, now: dt.datetime
) -> list[dict[str, Any]]:
    """One plain dict per decided image (parse errors are not decisions)."""
    rows = []
    for outcome in outcomes:
        decision = outcome.decision
        if decision is None:
            continue
        rows.append(
            {
                "event_id": new_event_id(),
                "org_id": decision.org_id,
                "user_id": context.user_id,
                "username": context.username[:150],
                "token_id": context.token_id,
                "image": outcome.image[:512],
                "reference": str(decision.reference)[:512],
                "registry": registry_host(decision.reference.domain)[:255],
                "repository": (decision.classification.hub_repository or "")[:255],
                "category": decision.category.value,
                "allowed": decision.allowed,
                "would_deny": decision.would_deny,
                "reason": decision.reason[:255],
                "enforcer": context.enforcer,
                "client_address": context.client_address,
                # PostgreSQL text holds no NUL; a front server that passes one must not
                # make the whole batch fail to store.
                "user_agent": context.user_agent[:255].replace("\x00", ""),
                "client_host": context.client_host[:253],
                "created_at": now.isoformat(),
            }
        )
    return rows


def _model(row: dict[str, Any]) -> DecisionEvent:
    fields = dict(row)
    fields["created_at"] = dt.datetime.fromisoformat(fields["created_at"])
    return DecisionEvent(**fields)


def store_rows(rows: Sequence[dict[str, Any]]) -> int:
    """Insert event rows; rows already stored (same ``event_id``) are skipped."""
    if not rows:
        return 0
    if connection.vendor == "postgresql":
        return _insert_postgresql(rows)
    ids = [row["event_id"] for row in rows]
    existing = set(
        DecisionEvent.objects.filter(event_id__in=ids).values_list("event_id", flat=True)
    )
    new = [_model(row) for row in rows if row["event_id"] not in existing]
    # ignore_conflicts still guards a race with another consumer inserting the same batch.
    DecisionEvent.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
    return len(new)


# The columns of an event row and the type each is cast to from the text array it is sent
# in: one array per column keeps the statement the same whatever the batch size.
_EVENT_COLUMNS = (
    ("event_id", "text"),
    ("org_id", "bigint"),
    ("user_id", "bigint"),
    ("username", "text"),
    ("token_id", "bigint"),
    ("image", "text"),
    ("reference", "text"),
    ("registry", "text"),
    ("repository", "text"),
    ("category", "text"),
    ("allowed", "boolean"),
    ("would_deny", "boolean"),
    ("reason", "text"),
    ("enforcer", "text"),
    ("client_address", "inet"),
    ("user_agent", "text"),
    ("client_host", "text"),
    ("created_at", "timestamptz"),
)
# Columns added after events were first written: a row written before (still in the stream
# during an upgrade) lacks them, and is stored with this value instead of null.
_DEFAULTS = {"registry": "''", "client_host": "''"}


def _selected(name: str, expression: str) -> str:
    default = _DEFAULTS.get(name)
    return f"coalesce({expression}, {default})" if default else expression


_INSERT_EVENTS = (  # noqa: S608 (names from the model, values as parameters)
    "INSERT INTO {table} ({names}) SELECT {casts} FROM unnest({arrays}) AS t({names}) "
    "ON CONFLICT (event_id) DO NOTHING"
).format(
    table=DecisionEvent._meta.db_table,
    names=", ".join(name for name, _ in _EVENT_COLUMNS),
    casts=", ".join(_selected(name, f"{name}::{kind}") for name, kind in _EVENT_COLUMNS),
    arrays=", ".join("%b::text[]" for _ in _EVENT_COLUMNS),
)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


# Columns whose values are not text (or null) as the request path writes them.
_CONVERTED = frozenset({"org_id", "user_id", "token_id", "allowed", "would_deny"})


def _text_column(rows: Sequence[dict[str, Any]], name: str) -> list[Any]:
    values = [row.get(name) for row in rows]
    # Text as written; anything else (an entry no server of ours wrote) is converted rather
    # than let one odd value fail every retry of its batch.
    if all(value.__class__ is str or value is None for value in values):
        return values
    return [_as_text(value) for value in values]


def _insert_postgresql(rows: Sequence[dict[str, Any]]) -> int:
    """One statement for the whole batch; a conflict on ``event_id`` skips the row.

    Measured with bench/bench_drain.py: Django's ``bulk_create`` spent most of the drain's
    time building SQL for each row; arrays of column values are sent once, and the
    idempotency check is the unique index's, not a query before the insert.
    """
    connection.ensure_connection()  # first: a database that just failed fails this fast
    columns = [
        [_as_text(row.get(name)) for row in rows]
        if name in _CONVERTED
        else _text_column(rows, name)
        for name, _ in _EVENT_COLUMNS
    ]
    # Server-side binding with binary arrays: Django's cursor would quote every value into
    # the statement's text.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_INSERT_EVENTS, columns, binary=True)
        return int(cursor.rowcount)


_INSERT_EVENTS_JSON = (  # noqa: S608 (names from the model, values as parameters)
    "INSERT INTO {table} ({names}) SELECT {selected} "
    "FROM json_populate_recordset(NULL::{table}, %s::json) ON CONFLICT (event_id) DO NOTHING"
).format(
    table=DecisionEvent._meta.db_table,
    names=", ".join(name for name, _ in _EVENT_COLUMNS),
    selected=", ".join(_selected(name, name) for name, _ in _EVENT_COLUMNS),
)


def insert_json_arrays(payloads: Sequence[bytes]) -> int:
    """Store JSON arrays of rows as PostgreSQL reads them: joined into one, parsed there.

    Each stream entry's field is already a JSON array of rows; joined, PostgreSQL parses them
    (in C) straight into rows and Python touches no row at all. Measured with
    bench/bench_backlog.py: under full load the drain shares the machine with the servers,
    and building column arrays in Python was a third of its time. Raises ``ValueError`` for a
    payload that is not an array, and the database's error for rows the table refuses.
    """
    parts = []
    for payload in payloads:
        text = payload.strip()
        if not (text.startswith(b"[") and text.endswith(b"]")):
            raise ValueError("not a JSON array")
        if len(text) > 2:
            parts.append(text[1:-1])
    if not parts:
        return 0
    document = b"[" + b",".join(parts) + b"]"
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_INSERT_EVENTS_JSON, [document.decode()])
        return int(cursor.rowcount)
