"""The trail detects a single edited byte in any stored event; checkpoints verify offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from gdpr_vault import db as database
from gdpr_vault.evidence import trail
from gdpr_vault.evidence.checkpoints import create_checkpoint
from gdpr_vault.evidence.tables import TrailEvent
from gdpr_vault.evidence.verify import verify_path

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EDITABLE = [
    "event_id",
    "actor",
    "action",
    "client_id",
    "subject_type",
    "subject_id",
    "before_digest",
    "after_digest",
    "details_json",
    "prev_hash",
    "hash",
]


async def seed(n: int = 5) -> None:
    for i in range(n):
        async with database.transaction():
            await trail.append(
                now=T0 + timedelta(minutes=i),
                actor="dpo:tok_test",
                action="client.updated",
                subject_type="client",
                subject_id=f"cli_{i}",
                client_id="cli_a",
                before={"n": i},
                after={"n": i + 1},
                details={"i": i},
            )


def flip_one_char(value: str) -> str:
    index = len(value) // 2
    replacement = "0" if value[index] != "0" else "1"
    return value[:index] + replacement + value[index + 1 :]


async def test_untouched_chain_verifies(db):
    await seed()
    report = await trail.verify_chain()
    assert report.ok and report.checked == 5


@pytest.mark.parametrize("column", EDITABLE)
async def test_one_edited_byte_in_any_column_is_detected(db, column):
    await seed()
    row = await TrailEvent.select().where(TrailEvent.seq == 3).first()
    await TrailEvent.update({getattr(TrailEvent, column): flip_one_char(row[column])}).where(
        TrailEvent.seq == 3
    )
    report = await trail.verify_chain()
    assert not report.ok
    assert report.first_broken_seq in (3, 4)


async def test_edited_timestamp_and_deleted_event_are_detected(db):
    await seed()
    await TrailEvent.update({TrailEvent.occurred_at: T0 + timedelta(seconds=1)}).where(
        TrailEvent.seq == 1
    )
    assert (await trail.verify_chain()).first_broken_seq == 1
    await TrailEvent.delete().where(TrailEvent.seq >= 1)
    await seed()
    await TrailEvent.delete().where(TrailEvent.seq == 2)
    report = await trail.verify_chain()
    assert not report.ok and report.first_broken_seq == 3


async def test_signed_checkpoint_verifies_offline_and_detects_tampering(db, tmp_path):
    await seed()
    checkpoint = await create_checkpoint(T0 + timedelta(hours=1))
    assert checkpoint is not None
    assert await create_checkpoint(T0 + timedelta(hours=2)) is None  # nothing new to sign
    path = tmp_path / "checkpoint.dsse.json"
    path.write_text(json.dumps(checkpoint["envelope"]))
    report = verify_path(path)
    assert report["ok"], report
    assert report["statement"]["predicate"]["upto_seq"] == 5
    envelope = dict(checkpoint["envelope"])
    envelope["payload"] = envelope["payload"][:-4] + "AAA="
    path.write_text(json.dumps(envelope))
    assert not verify_path(path)["ok"]
