"""``gdpr_vault.bulk``: rows written through the driver read back as Piccolo writes them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from enum import Enum

import pytest

from gdpr_vault import db
from gdpr_vault.bulk import analyze_after_bulk, insert_rows, where_in
from gdpr_vault.ids import new_id
from gdpr_vault.notifications.tables import Notice

pytestmark = pytest.mark.usefixtures("db")


def _row(**changes: object) -> dict[str, object]:
    return {
        "id": new_id("ntc"),
        "client_id": None,
        "kind": "test.notice",
        "subject_type": "test",
        "subject_id": "t",
        "created_by": "test",
        **changes,
    }


async def test_inserted_rows_match_what_piccolo_writes():
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ours = _row(created_at=now, facts_json='{"é": 1}', requires_receipt=False)
    theirs = _row(created_at=now, facts_json='{"é": 1}', requires_receipt=False)
    async with db.transaction():
        await insert_rows(Notice, [ours])
    await Notice.insert(Notice(**theirs))
    got = {r["id"]: r for r in await Notice.select()}
    mine, reference = got[ours["id"]], got[theirs["id"]]
    for key in ("created_at", "facts_json", "requires_receipt", "dedupe_key", "received_at"):
        assert mine[key] == reference[key], key
    assert mine["created_at"] == now and mine["requires_receipt"] is False


async def test_missing_columns_take_their_default_per_row(monkeypatch):
    rows = [_row(), _row()]
    async with db.transaction():
        await insert_rows(Notice, rows)
    got = await Notice.select().where(where_in(Notice.id, [r["id"] for r in rows]))
    assert len(got) == 2
    for row in got:  # TimestamptzNow, a Default object, is called for each row
        assert isinstance(row["created_at"], datetime) and row["created_at"].tzinfo is not None
        assert row["facts_json"] == "{}" and row["requires_receipt"] is True

    counter = itertools.count()
    monkeypatch.setattr(Notice.dedupe_key, "default", lambda: f"k{next(counter)}")
    unique = [_row(), _row()]
    await insert_rows(Notice, unique)  # outside a transaction: the multi-row INSERT path
    keys = sorted(
        r["dedupe_key"]
        for r in await Notice.select().where(where_in(Notice.id, [u["id"] for u in unique]))
    )
    assert keys == ["k0", "k1"]  # a callable default is called once per row, not once per call


async def test_analyze_as_the_inserting_transaction_s_last_statement():
    """The statistics commit with the rows: the jobs that transaction enqueues plan with them."""
    rows = [_row(created_at=datetime(2026, 3, 2, tzinfo=UTC)) for _ in range(2000)]
    async with db.transaction():
        await insert_rows(Notice, rows)
        await analyze_after_bulk(Notice, len(rows))  # no error on either database
    assert await Notice.count() == 2000
    if db.is_postgres():
        (stats,) = await Notice.raw("SELECT reltuples FROM pg_class WHERE relname = 'notice'")
        assert stats["reltuples"] == 2000  # ANALYZE saw the transaction's own rows


async def test_a_busy_table_skips_analyze_after_a_short_wait_and_keeps_the_rows():
    """A VACUUM (here: its lock, held by another connection) delays the fan-out by the lock
    timeout at most; the rows commit, the statistics are left for later."""
    if not db.is_postgres():
        pytest.skip("ANALYZE runs on PostgreSQL only")
    import time

    import asyncpg

    from gdpr_vault.settings import get_settings

    other = await asyncpg.connect(get_settings().effective_database_url)
    try:
        holding = other.transaction()
        await holding.start()
        await other.execute("LOCK TABLE notice IN SHARE UPDATE EXCLUSIVE MODE")
        rows = [_row(created_at=datetime(2026, 3, 2, tzinfo=UTC)) for _ in range(2000)]
        began = time.monotonic()
        async with db.transaction():
            await insert_rows(Notice, rows)
            await analyze_after_bulk(Notice, len(rows))
            (setting,) = await Notice.raw("SELECT current_setting('lock_timeout') AS v")
        waited = time.monotonic() - began
        await holding.rollback()
    finally:
        await other.close()
    assert await Notice.count() == 2000
    assert 0.9 <= waited < 5
    assert setting["v"] == "0"  # the transaction's own timeout is back as it was


async def test_rows_naming_every_column_take_the_fast_path_with_the_same_conversions():
    class Kind(Enum):
        TEST = "test.notice"

    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    names = [c._meta.name for c in Notice._meta.columns]
    full = {name: None for name in names}
    rows = [
        {**full, **_row(created_at=now, facts_json="{}", requires_receipt=True, kind=Kind.TEST)}
        for _ in range(3)
    ]
    assert all(row.keys() == set(names) for row in rows)
    async with db.transaction():
        await insert_rows(Notice, rows)
    got = await Notice.select().where(where_in(Notice.id, [r["id"] for r in rows]))
    assert {r["kind"] for r in got} == {"test.notice"}  # the enum's value, as Piccolo writes it
    assert all(r["created_at"] == now and r["received_at"] is None for r in got)
