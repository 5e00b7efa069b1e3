"""Registry access management: which registries an organization's people may pull from.

Off by default; when on, an image whose registry is in no allowlist entry is denied for
everyone, owners included (``policies.engine.decide``). Every change is checked whole (a bad
host, a duplicate, a note too long or too many entries changes nothing), bumps the version
and the snapshot version, and is written to the activity log in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from orgs.activity import log_action
from orgs.models import Organization, PersonalAccessToken
from policies.engine.registries import RegistryEntryError, parse_registry_entry
from policies.models import RegistryAccessPolicy
from policies.services import BUSINESS_REQUIRED, PolicyError, bump_policy_version

MAX_REGISTRIES = 1000
MAX_NOTE_LENGTH = 200


@dataclass(frozen=True)
class RegistryEntry:
    """One allowlist entry as stored: the normalized host and the owner's note."""

    host: str
    note: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"host": self.host, "note": self.note}


def get_registry_access(org: Organization) -> RegistryAccessPolicy:
    """The organization's registry access row, created with the defaults on first use."""
    policy, _ = RegistryAccessPolicy.objects.get_or_create(org=org)
    return policy


def validate_registries(entries: Sequence[Any]) -> list[RegistryEntry]:
    """Check a whole allowlist; ``PolicyError`` names the first entry that is wrong."""
    if len(entries) > MAX_REGISTRIES:
        raise PolicyError(f"at most {MAX_REGISTRIES} registries, not {len(entries)}")
    checked: list[RegistryEntry] = []
    seen: dict[str, str] = {}
    for position, entry in enumerate(entries, start=1):
        if isinstance(entry, str):
            entry = {"host": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("host"), str):
            raise PolicyError(f"registry {position}: give an object with a host, such as ghcr.io")
        unknown = set(entry) - {"host", "note"}
        if unknown:
            raise PolicyError(f"registry {position}: unknown field {sorted(unknown)[0]}")
        note = entry.get("note", "")
        if not isinstance(note, str):
            raise PolicyError(f"registry {position}: the note must be text")
        note = note.strip()
        if len(note) > MAX_NOTE_LENGTH:
            raise PolicyError(
                f"registry {position}: a note has at most {MAX_NOTE_LENGTH} characters"
            )
        if any(ord(c) < 32 or ord(c) == 127 or c in "\u2028\u2029" for c in note):
            raise PolicyError(f"registry {position}: a note is one line of text")
        try:
            host = parse_registry_entry(entry["host"]).text
        except RegistryEntryError as exc:
            raise PolicyError(f"registry {position}: {exc}") from None
        if host in seen:
            raise PolicyError(
                f"registry {position}: {host} is already in the list (as {seen[host]!r})"
            )
        seen[host] = entry["host"].strip()
        checked.append(RegistryEntry(host, note))
    return checked


def update_registry_access(
    *,
    org: Organization,
    actor: User,
    enabled: bool | None = None,
    registries: Sequence[Any] | None = None,
    token: PersonalAccessToken | None = None,
) -> tuple[RegistryAccessPolicy, bool]:
    """Switch registry access and/or replace the allowlist; return the row and whether it changed.

    Turning it on needs the Business plan. No change, no version bump and no log entry.
    """
    entries = None if registries is None else validate_registries(registries)
    with transaction.atomic():
        get_registry_access(org)
        policy = RegistryAccessPolicy.objects.select_for_update().get(org=org)
        before = {"enabled": policy.enabled, "registries": list(policy.registries)}
        after = dict(before)
        if enabled is not None:
            after["enabled"] = bool(enabled)
        if entries is not None:
            after["registries"] = [entry.as_dict() for entry in entries]
        if after == before:
            return policy, False
        if after["enabled"] and not before["enabled"] and not org.is_business:
            raise PolicyError(BUSINESS_REQUIRED.replace("image access", "registry access"))
        policy.enabled = after["enabled"]
        policy.registries = after["registries"]
        policy.version = F("version") + 1
        policy.updated_by = actor
        policy.updated_at = timezone.now()
        policy.save()
        policy.refresh_from_db()
        log_action(
            actor=actor,
            org=org,
            action="registry_access.updated",
            target="registry access",
            before=_summary(before),
            after=_summary(after),
            token=token,
        )
        bump_policy_version(org)  # bumps the snapshot version too
    return policy, True


def _summary(state: dict[str, Any]) -> dict[str, Any]:
    return {"enabled": state["enabled"], "registries": [e["host"] for e in state["registries"]]}
