"""The tamper-evident trail: one event per state change, each hashing its predecessor.

An event is appended inside the caller's transaction, so the state change and its evidence
commit or vanish together. The chain is serialised with a PostgreSQL advisory lock (SQLite
transactions already take the write lock up front), so two writers never fork it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gdpr_vault import db
from gdpr_vault.evidence.tables import TrailEvent
from gdpr_vault.ids import new_id
from gdpr_vault.timeutil import utc_iso

GENESIS = "0" * 64
_LOCK_KEY = 7_302_104  # arbitrary, stable: the trail's advisory lock id


class CanonicalJSON(str):
    """JSON text already written as :func:`canonical_json` writes it: :func:`digest_of`
    hashes it as it is (a fan-out's batch event holds hundreds of notices' facts, whose
    canonical texts were written once already)."""


def digest_of(value: Any) -> str | None:
    """SHA-256 of a canonical JSON rendering: the trail keeps digests, not personal data."""
    if value is None:
        return None
    text = value if isinstance(value, CanonicalJSON) else canonical_json(value)
    return hashlib.sha256(text.encode()).hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    material = prev_hash + "\n" + canonical_json(dict(fields))
    return hashlib.sha256(material.encode()).hexdigest()


def _hashed_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "seq": row["seq"],
        "event_id": row["event_id"],
        "occurred_at": utc_iso(row["occurred_at"]),
        "actor": row["actor"],
        "action": row["action"],
        "client_id": row["client_id"],
        "subject_type": row["subject_type"],
        "subject_id": row["subject_id"],
        "before_digest": row["before_digest"],
        "after_digest": row["after_digest"],
        "details_json": row["details_json"],
    }


async def _lock_chain() -> None:
    if db.is_postgres():
        await TrailEvent.raw("SELECT pg_advisory_xact_lock({})", _LOCK_KEY)


async def append(
    *,
    now: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    client_id: str | None = None,
    before: Any = None,
    after: Any = None,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one event; must run inside ``db.transaction()``."""
    await _lock_chain()
    last = (
        await TrailEvent.select(TrailEvent.seq, TrailEvent.hash)
        .order_by(TrailEvent.seq, ascending=False)
        .limit(1)
        .first()
    )
    prev_hash = last["hash"] if last else GENESIS
    seq = (last["seq"] if last else 0) + 1
    row: dict[str, Any] = {
        "seq": seq,
        "event_id": new_id("evt"),
        "occurred_at": now,
        "actor": actor,
        "action": action,
        "client_id": client_id,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "before_digest": digest_of(before),
        "after_digest": digest_of(after),
        "details_json": canonical_json(dict(details or {})),
        "prev_hash": prev_hash,
    }
    row["hash"] = event_hash(prev_hash, _hashed_fields(row))
    await TrailEvent.insert(TrailEvent(**row))
    return row


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    head_hash: str
    first_broken_seq: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head_hash": self.head_hash,
            "first_broken_seq": self.first_broken_seq,
            "reason": self.reason,
        }


async def iter_events(
    *, client_id: str | None = None, after_seq: int = 0, batch: int = 1000
) -> AsyncIterator[dict[str, Any]]:
    """Stream events in chain order without loading the whole trail."""
    cursor = after_seq
    while True:
        query = TrailEvent.select().where(TrailEvent.seq > cursor)
        if client_id is not None:
            query = query.where(TrailEvent.client_id == client_id)
        rows = await query.order_by(TrailEvent.seq).limit(batch)
        if not rows:
            return
        for row in rows:
            yield row
        cursor = rows[-1]["seq"]


def check_link(row: Mapping[str, Any], prev_hash: str, expected_seq: int) -> str | None:
    """Why this event does not continue the chain, or None when it does."""
    if row["seq"] != expected_seq:
        return f"sequence gap: expected {expected_seq}, found {row['seq']}"
    if row["prev_hash"] != prev_hash:
        return "prev_hash does not match the previous event's hash"
    if event_hash(prev_hash, _hashed_fields(row)) != row["hash"]:
        return "event content does not match its hash (edited)"
    return None


async def verify_chain() -> ChainReport:
    prev_hash, expected, checked = GENESIS, 1, 0
    async for row in iter_events():
        reason = check_link(row, prev_hash, expected)
        if reason:
            return ChainReport(False, checked, prev_hash, row["seq"], reason)
        prev_hash, expected, checked = row["hash"], expected + 1, checked + 1
    return ChainReport(True, checked, prev_hash)
