"""Signed checkpoints of the trail head: what lets an outsider trust a chain offline.

A checkpoint is an in-toto Statement whose subject is the head hash at a given sequence number,
signed with the service key. Anyone holding an exported slice of the trail can recompute the
chain up to that head and check the signature with the published public key.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from exporters.signing import sign
from gdpr_vault import db
from gdpr_vault.evidence import trail
from gdpr_vault.evidence.keys import service_signing_key
from gdpr_vault.evidence.tables import Checkpoint, TrailEvent
from gdpr_vault.ids import new_id
from gdpr_vault.timeutil import utc_iso

CHECKPOINT_PREDICATE = "https://gdpr-vault.dev/trail-checkpoint/v1"


def checkpoint_subject(upto_seq: int) -> str:
    return f"trail-head@{upto_seq}"


async def create_checkpoint(now: datetime, actor: str = "system") -> dict[str, Any] | None:
    """Sign the current head; returns None when nothing happened since the last checkpoint."""
    async with db.transaction():
        head = (
            await TrailEvent.select(TrailEvent.seq, TrailEvent.hash)
            .order_by(TrailEvent.seq, ascending=False)
            .first()
        )
        if head is None:
            return None
        last = await Checkpoint.select().order_by(Checkpoint.upto_seq, ascending=False).first()
        # The checkpoint's own trail event is upto_seq + 1: nothing else happened since.
        if last and head["seq"] <= last["upto_seq"] + 1:
            return None
        envelope = sign(
            service_signing_key(),
            [(checkpoint_subject(head["seq"]), head["hash"])],
            CHECKPOINT_PREDICATE,
            {
                "upto_seq": head["seq"],
                "event_count": head["seq"],
                "created_at": utc_iso(now),
                "previous_checkpoint": last["id"] if last else None,
            },
        )
        row = {
            "id": new_id("chk"),
            "upto_seq": head["seq"],
            "head_hash": head["hash"],
            "event_count": head["seq"],
            "created_at": now,
            "envelope_json": json.dumps(envelope),
        }
        await Checkpoint.insert(Checkpoint(**row))
        await trail.append(
            now=now,
            actor=actor,
            action="trail.checkpoint_signed",
            subject_type="checkpoint",
            subject_id=row["id"],
            details={"upto_seq": head["seq"], "head_hash": head["hash"]},
        )
        return {**row, "envelope": envelope}


async def latest_checkpoint() -> dict[str, Any] | None:
    row = await Checkpoint.select().order_by(Checkpoint.upto_seq, ascending=False).first()
    if row is None:
        return None
    return {**row, "envelope": json.loads(row["envelope_json"])}
