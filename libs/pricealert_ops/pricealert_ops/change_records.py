"""Emergency changes (plan 7.3 緊急変更), recorded for the review that follows them.

An emergency change skips the change advisory board, so it is reviewed after the
fact: `pricealert deploy plan --emergency` stores one JSON record per change in
the incident store (`PRICEALERT_INCIDENT_STORE`, key `changes/CHG-<date>-<n>.json`)
with who planned it, who approved it, why, and every stack's change set; it is
due for review within 7 days. `pricealert deploy emergencies` lists the ones not
reviewed yet (overdue first), `pricealert deploy reviewed CHG-…` closes one.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pricealert.errors import Conflict, NotFound
from pricealert_ops.storage import BackupStore, ObjectNotFound

REVIEW_WITHIN = timedelta(days=7)
PREFIX = "changes/"


class ChangeNotFound(NotFound, code="change_not_found"):
    """No emergency change with this id is recorded in the store."""


class ChangeAlreadyReviewed(Conflict, code="change_already_reviewed"):
    """The emergency change was reviewed already; a review is recorded once."""


def record_emergency(
    store: BackupStore,
    stacks: Sequence[dict[str, Any]],
    *,
    reason: str,
    approver: str,
    who: str,
    now: datetime | None = None,
) -> str:
    """Store an emergency change (its stacks' plans as `plan_as_dict` gives them); its id."""
    at = now or datetime.now(UTC)
    prefix = f"CHG-{at:%Y%m%d}-"
    taken = [o.key for o in store.list(f"{PREFIX}{prefix}") if o.key.endswith(".json")]
    change_id = f"{prefix}{len(taken) + 1}"
    record = {
        "id": change_id,
        "class": "emergency",
        "at": at.isoformat(),
        "who": who,
        "approver": approver,
        "reason": reason,
        "review_due": (at + REVIEW_WITHIN).isoformat(),
        "reviewed": False,
        "stacks": list(stacks),
    }
    _save(store, record)
    return change_id


def emergencies(store: BackupStore, *, include_reviewed: bool = False) -> list[dict[str, Any]]:
    """Recorded emergency changes, the oldest review due first."""
    found = [_load(store, obj.key) for obj in store.list(PREFIX) if obj.key.endswith(".json")]
    found = [r for r in found if include_reviewed or not r["reviewed"]]
    return sorted(found, key=lambda r: str(r["review_due"]))


def mark_reviewed(
    store: BackupStore, change_id: str, *, who: str, notes: str, now: datetime | None = None
) -> dict[str, Any]:
    """Close an emergency change's review with its outcome."""
    try:
        record = _load(store, f"{PREFIX}{change_id}.json")
    except ObjectNotFound:
        raise ChangeNotFound(f"no emergency change {change_id!r} in {store.location}") from None
    if record["reviewed"]:
        raise ChangeAlreadyReviewed(f"{change_id} was reviewed at {record['reviewed_at']}")
    record.update(
        reviewed=True,
        reviewed_at=(now or datetime.now(UTC)).isoformat(),
        reviewed_by=who,
        review_notes=notes,
    )
    _save(store, record)
    return record


def is_overdue(record: dict[str, Any], now: datetime | None = None) -> bool:
    return not record["reviewed"] and datetime.fromisoformat(record["review_due"]) < (
        now or datetime.now(UTC)
    )


def _load(store: BackupStore, key: str) -> dict[str, Any]:
    buffer = io.BytesIO()
    store.download(key, buffer)
    record: dict[str, Any] = json.loads(buffer.getvalue())
    return record


def _save(store: BackupStore, record: dict[str, Any]) -> None:
    body = json.dumps(record, indent=2, ensure_ascii=False).encode()
    store.upload(f"{PREFIX}{record['id']}.json", io.BytesIO(body))
