"""Jobs live in the database: leases, retries, dead letters, and no double run on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from gdpr_vault import db as database
from gdpr_vault.jobs import queue
from gdpr_vault.jobs.tables import Job

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RUNS: list[str] = []


@queue.handler("test.record")
async def _record(payload: dict, now: datetime) -> None:
    RUNS.append(payload["name"])


@queue.handler("test.fail")
async def _fail(payload: dict, now: datetime) -> None:
    raise RuntimeError("downstream said no")


async def add(kind: str, name: str, run_at: datetime = T0, **kw) -> str | None:
    async with database.transaction():
        return await queue.enqueue(kind, {"name": name}, run_at=run_at, **kw)


async def test_due_jobs_run_once_and_future_jobs_wait(db):
    RUNS.clear()
    await add("test.record", "now")
    await add("test.record", "later", run_at=T0 + timedelta(hours=1))
    assert await queue.run_one("w1", T0, 60)
    assert await queue.run_one("w1", T0, 60) is None
    assert RUNS == ["now"]
    assert await queue.run_one("w1", T0 + timedelta(hours=1), 60)
    assert RUNS == ["now", "later"]


async def test_dedupe_key_makes_scheduling_idempotent(db):
    assert await add("test.record", "a", dedupe_key="slot-1")
    assert await add("test.record", "a", dedupe_key="slot-1") is None
    assert await Job.count() == 1


async def test_a_killed_worker_s_job_is_picked_up_after_its_lease(db):
    RUNS.clear()
    await add("test.record", "orphan")
    claimed = await queue.claim("crashed-worker", T0, lease_seconds=60)
    assert claimed is not None  # ...and the worker dies here without finishing
    assert await queue.run_one("w2", T0 + timedelta(seconds=30), 60) is None
    assert await queue.run_one("w2", T0 + timedelta(seconds=61), 60) == claimed["id"]
    assert RUNS == ["orphan"]
    row = await Job.select().where(Job.id == claimed["id"]).first()
    assert row["status"] == "done" and row["attempts"] == 2


async def test_failures_back_off_then_dead_letter(db):
    job_id = await add("test.fail", "x", max_attempts=3)
    now = T0
    for _ in range(3):
        row = await Job.select().where(Job.id == job_id).first()
        now = max(now, row["run_at"])
        assert await queue.run_one("w", now, 60) == job_id
    row = await Job.select().where(Job.id == job_id).first()
    assert row["status"] == "dead" and "downstream said no" in row["last_error"]


async def test_many_workers_never_run_a_job_twice_on_postgres(db):
    if not database.is_postgres():
        pytest.skip(
            "concurrent claiming is a PostgreSQL property (SKIP LOCKED); SQLite has one writer"
        )
    RUNS.clear()
    for i in range(200):
        await add("test.record", f"job-{i}")

    async def worker(name: str) -> None:  # each on its own pooled connection (db fixture)
        while await queue.run_one(name, T0, 60):
            pass

    await asyncio.gather(*(worker(f"w{i}") for i in range(6)))
    assert sorted(RUNS) == sorted(f"job-{i}" for i in range(200))


async def test_two_schedulers_of_one_slot_add_one_job_and_neither_fails(db):
    """Worker processes start together and schedule the same periodic slot: both pass the
    read before either commits; the insert's ON CONFLICT makes the second a quiet no-op."""

    async def schedule() -> str | None:
        async with database.transaction():
            job_id = await queue.enqueue("test.record", {"name": "x"}, run_at=T0, dedupe_key="k")
            await asyncio.sleep(0.05)  # both transactions are open at once (PostgreSQL)
            return job_id

    results = await asyncio.gather(schedule(), schedule())
    assert sorted(r is None for r in results) == [False, True]
    assert await Job.count().where(Job.dedupe_key == "k") == 1


@queue.handler("test.atomic")
async def _atomic(payload: dict, now: datetime) -> None:
    """Records, completes its job in its own transaction, then may fail (rolling it back)."""
    async with database.transaction():
        await queue.complete_in_transaction()
        RUNS.append(payload["name"])
        if payload["name"].startswith("fail"):
            raise RuntimeError("after completing")


async def _status(job_id: str | None) -> tuple[str, str | None, int]:
    row = await Job.select().where(Job.id == job_id).first()
    return row["status"], row["locked_by"], row["attempts"]


async def test_a_job_completes_with_its_effects_and_takes_the_next(db):
    RUNS.clear()
    first = await add("test.atomic", "one")
    second = await add("test.atomic", "two", run_at=T0 + timedelta(seconds=1))
    assert await queue.run_one("w", T0 + timedelta(seconds=1), 60) == first
    assert await _status(first) == ("done", "w", 1)
    assert await _status(second) == ("running", "w", 1)  # taken in the same transaction
    assert await queue.run_one("w", T0 + timedelta(seconds=2), 60) == second  # no new claim
    assert await _status(second) == ("done", "w", 1)
    assert RUNS == ["one", "two"]
    assert await queue.run_one("w", T0 + timedelta(seconds=3), 60) is None


async def test_a_completion_rolled_back_is_a_failure_and_takes_nothing(db):
    RUNS.clear()
    failing = await add("test.atomic", "fail-once")
    other = await add("test.atomic", "other", run_at=T0 + timedelta(seconds=1))
    assert await queue.run_one("w", T0 + timedelta(seconds=1), 60) == failing
    assert (await _status(failing))[0] == "queued"  # retried later, as any failure
    assert await _status(other) == ("queued", None, 0)  # its taking rolled back too
    assert await queue.run_one("w", T0 + timedelta(seconds=1), 60) == other


async def test_a_stopping_worker_puts_back_the_job_it_took(db):
    RUNS.clear()
    first = await add("test.atomic", "one")
    second = await add("test.atomic", "two")
    assert await queue.run_one("w", T0, 60) == first
    assert await _status(second) == ("running", "w", 1)
    await queue.release_taken("w")
    assert await _status(second) == ("queued", None, 0)
    assert await queue.run_one("other", T0, 60) == second  # at once, not after the lease


async def test_a_job_taken_for_later_and_lost_is_not_run_twice(db):
    """Another worker took the job meanwhile (its lease had run out): this one claims anew."""
    RUNS.clear()
    first = await add("test.atomic", "one")
    second = await add("test.atomic", "two")
    assert await queue.run_one("w", T0, 60) == first
    later = T0 + timedelta(seconds=61)
    assert await queue.run_one("thief", later, 60) == second
    assert await queue.run_one("w", later, 60) is None
    assert RUNS == ["one", "two"]


@queue.handler("test.fails_after_commit")
async def _fails_after_commit(payload: dict, now: datetime) -> None:
    async with database.transaction():
        await queue.complete_in_transaction()
        RUNS.append(payload["name"])
    raise RuntimeError("after the commit")


async def test_a_failure_after_the_end_committed_keeps_the_job_done(db):
    """Its effects committed with its end: running it again would repeat them."""
    RUNS.clear()
    job_id = await add("test.fails_after_commit", "once")
    assert await queue.run_one("w", T0, 60) == job_id
    assert await _status(job_id) == ("done", "w", 1)
    assert await queue.run_one("w", T0 + timedelta(hours=2), 60) is None
    assert RUNS == ["once"]


async def test_a_job_taken_for_later_whose_lease_ran_out_is_claimed_again(db):
    RUNS.clear()
    first = await add("test.atomic", "one")
    second = await add("test.atomic", "two")
    assert await queue.run_one("w", T0, 60) == first
    assert await queue.run_one("w", T0 + timedelta(seconds=61), 60) == second
    assert await _status(second) == ("done", "w", 2)  # a second claim, counted as such
    assert RUNS == ["one", "two"]


async def test_a_worker_loop_that_dies_puts_back_the_job_it_took(db, monkeypatch):
    from gdpr_vault.jobs import worker
    from gdpr_vault.settings import get_settings

    first = await add("test.atomic", "one")
    second = await add("test.atomic", "two")

    async def broken_delivery(*args, **kwargs):
        raise RuntimeError("the outbox is down")

    calls = 0
    real_run_one = worker.run_one

    async def run_one_then_stop(*args, **kwargs):
        nonlocal calls
        calls += 1
        return await real_run_one(*args, **kwargs) if calls == 1 else None

    monkeypatch.setattr(worker, "run_one", run_one_then_stop)
    monkeypatch.setattr(worker, "deliver_due", broken_delivery)
    with pytest.raises(RuntimeError, match="outbox is down"):
        await worker.run_worker(get_settings(), lambda: T0, asyncio.Event())
    assert (await _status(first))[0] == "done"
    assert await _status(second) == ("queued", None, 0)


async def test_a_write_inside_a_read_phase_is_refused(db):
    if database.is_postgres():
        pytest.skip("reading() is a deferred SQLite transaction; on PostgreSQL it does nothing")
    async with database.reading():
        with pytest.raises(RuntimeError, match=r"inside db\.reading"):
            async with database.transaction():
                pass
    async with database.transaction():  # and after it, writes go on as usual
        await queue.enqueue("test.record", {"name": "x"}, run_at=T0)


@queue.handler("test.swallows_rollback")
async def _swallows_rollback(payload: dict, now: datetime) -> None:
    RUNS.append(payload["name"])
    if len(RUNS) > 1:  # the second run completes for real
        async with database.transaction():
            await queue.complete_in_transaction()
        return
    try:
        async with database.transaction():
            await queue.complete_in_transaction()
            raise ValueError("rolled back")
    except ValueError:
        pass  # the handler swallows it: its effects and its end rolled back together


async def test_an_end_rolled_back_by_the_handler_itself_is_run_again_after_its_lease(db):
    RUNS.clear()
    job_id = await add("test.swallows_rollback", "x")
    assert await queue.run_one("w", T0, 60) == job_id
    assert await _status(job_id) == ("running", "w", 1)  # not marked done without its effects
    assert await queue.run_one("w2", T0 + timedelta(seconds=61), 60) == job_id
    assert await _status(job_id) == ("done", "w2", 2)
    assert RUNS == ["x", "x"]


SLOW: dict[str, asyncio.Event] = {}  # fresh events per test: each test has its own loop


@queue.handler("test.slow")
async def _slow(payload: dict, now: datetime) -> None:
    SLOW["started"].set()
    await SLOW["release"].wait()
    RUNS.append(payload["name"])


def _slow_events() -> tuple[asyncio.Event, asyncio.Event]:
    SLOW["started"], SLOW["release"] = asyncio.Event(), asyncio.Event()
    return SLOW["started"], SLOW["release"]


async def test_a_long_job_keeps_its_lease_while_it_runs(db):
    """An export can take hours: no other worker may take it over while it is still running."""
    RUNS.clear()
    started, release = _slow_events()
    job_id = await add("test.slow", "long")
    running = asyncio.create_task(queue.run_one("w1", T0, 3))
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.sleep(2.5)  # two renewals (every second with a 3 s lease)
    row = await Job.select(Job.lease_until).where(Job.id == job_id).first()
    assert row["lease_until"] >= T0 + timedelta(seconds=5)
    # Past the first lease, a second worker finds nothing to take over.
    assert await queue.run_one("w2", T0 + timedelta(seconds=4), 3) is None
    release.set()
    assert await asyncio.wait_for(running, 10) == job_id
    assert await _status(job_id) == ("done", "w1", 1)
    assert RUNS == ["long"]


async def test_a_renewal_that_finds_the_job_taken_over_stops_renewing(db):
    started, release = _slow_events()
    job_id = await add("test.slow", "lost")
    running = asyncio.create_task(queue.run_one("w1", T0, 3))
    await asyncio.wait_for(started.wait(), 5)
    async with database.transaction():  # as if w1 had been presumed dead and w2 took the job
        await Job.update({Job.locked_by: "w2"}).where(Job.id == job_id)
    await asyncio.sleep(1.5)
    row = await Job.select(Job.lease_until).where(Job.id == job_id).first()
    assert row["lease_until"] == T0 + timedelta(seconds=3)  # w1 did not push w2's lease
    release.set()
    await asyncio.wait_for(running, 10)
