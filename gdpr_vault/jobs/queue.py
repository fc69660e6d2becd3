"""A database job queue: leases so a killed worker's job is retried, SKIP LOCKED so many
workers on PostgreSQL never run one job twice at once. See docs/adr/0002-job-queue.md.
"""

from __future__ import annotations

import asyncio
import json
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from gdpr_vault import db
from gdpr_vault.errors import Conflict, NotFound
from gdpr_vault.evidence import trail
from gdpr_vault.ids import is_valid_id, new_id
from gdpr_vault.jobs.tables import Job

log = structlog.get_logger("gdpr_vault.jobs")

Handler = Callable[[dict[str, Any], datetime], Awaitable[None]]
_HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        _HANDLERS[kind] = func
        return func

    return register


def registered_kinds() -> list[str]:
    return sorted(_HANDLERS)


async def enqueue(
    kind: str,
    payload: Mapping[str, Any],
    *,
    run_at: datetime,
    dedupe_key: str | None = None,
    max_attempts: int = 5,
) -> str | None:
    """Add a job in the caller's transaction; a dedupe key makes scheduling idempotent.

    The key is checked by the insert itself (``ON CONFLICT DO NOTHING``): two workers that
    schedule the same periodic slot at the same moment no longer race a read against a
    unique index (on PostgreSQL the loser's transaction used to abort)."""
    if dedupe_key is not None:
        existing = await Job.select(Job.id).where(Job.dedupe_key == dedupe_key).first()
        if existing:
            return None
    job_id = new_id("job")
    insert = Job.insert(
        Job(
            id=job_id,
            kind=kind,
            payload_json=json.dumps(dict(payload), sort_keys=True),
            dedupe_key=dedupe_key,
            status="queued",
            run_at=run_at,
            max_attempts=max_attempts,
            created_at=run_at,
        )
    )
    if dedupe_key is None:
        await insert
        return job_id
    added = await insert.on_conflict(target=Job.dedupe_key, action="DO NOTHING").returning(Job.id)
    return job_id if added else None


_PG_CLAIM = """
UPDATE job SET status = 'running', attempts = attempts + 1,
       lease_until = {}, locked_by = {}
WHERE id = (
    SELECT id FROM job
    WHERE (status = 'queued' AND run_at <= {})
       OR (status = 'running' AND lease_until < {})
    ORDER BY run_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING *
"""


async def claim(worker_id: str, now: datetime, lease_seconds: int) -> dict[str, Any] | None:
    """Take the next due job, or one whose previous worker's lease ran out."""
    lease_until = now + timedelta(seconds=lease_seconds)
    if db.is_postgres():
        rows = await Job.raw(_PG_CLAIM, lease_until, worker_id, now, now)
        return rows[0] if rows else None
    async with db.transaction():  # SQLite: IMMEDIATE transaction = one writer at a time
        due = (Job.status == "queued") & (Job.run_at <= now)
        expired = (Job.status == "running") & (Job.lease_until < now)
        row = await Job.select().where(due | expired).order_by(Job.run_at).first()
        if row is None:
            return None
        await Job.update(
            {
                Job.status: "running",
                Job.attempts: row["attempts"] + 1,
                Job.lease_until: lease_until,
                Job.locked_by: worker_id,
            }
        ).where(Job.id == row["id"])
        return {**row, "attempts": row["attempts"] + 1, "locked_by": worker_id}


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 5 * 2 ** (attempts - 1)))


@dataclass
class _Running:
    """The job this task runs, for :func:`complete_in_transaction`."""

    job: dict[str, Any]
    worker_id: str
    now: datetime
    lease_seconds: int
    completed: bool = False
    next_job: dict[str, Any] | None = None


_running: ContextVar[_Running | None] = ContextVar("running_job", default=None)
#: Jobs a worker took in its previous job's last transaction, by worker id.
_taken: dict[str, dict[str, Any]] = {}


def _done(job_id: str, worker_id: str, now: datetime) -> Any:
    return Job.update({Job.status: "done", Job.finished_at: now, Job.lease_until: None}).where(
        (Job.id == job_id) & (Job.locked_by == worker_id)
    )


async def complete_in_transaction() -> None:
    """Mark the running job done, and take the worker's next job, in the caller's write
    transaction (a handler calls it in its last one); outside a job it does nothing.

    Why: the job's end then commits with its effects, and the worker needs no second write to
    go on. On SQLite, where writers take turns, two workers that each needed the lock again
    right after their own write (to mark the job done, then to claim) fell into step behind
    each other; this way one renders its next batch while the other writes.
    """
    running = _running.get()
    if running is None or running.completed:
        return
    await _done(running.job["id"], running.worker_id, running.now)
    running.completed = True
    running.next_job = await claim(running.worker_id, running.now, running.lease_seconds)


async def _still_mine(
    job: dict[str, Any], worker_id: str, status: str, now: datetime | None = None
) -> bool:
    """Whether the job is in ``status`` under this worker's name (and, given ``now``, its lease
    still runs): a transaction that took or finished it may have rolled back after
    :func:`complete_in_transaction`, and a job taken for later may have been taken over."""
    row = (
        await Job.select(Job.status, Job.locked_by, Job.lease_until)
        .where(Job.id == job["id"])
        .first()
    )
    return (
        row is not None
        and row["status"] == status
        and row["locked_by"] == worker_id
        and (now is None or (row["lease_until"] is not None and row["lease_until"] > now))
    )


async def _keep_for_later(worker_id: str, job: dict[str, Any] | None) -> None:
    """Remember the job taken for this worker's next run; one per worker id (a second loop
    under the same id would otherwise lose the first one's, left ``running``)."""
    if job is None:
        return
    if worker_id in _taken:
        await _put_back(job, worker_id)
        return
    _taken[worker_id] = job


async def _renew_lease(
    job_id: str, worker_id: str, now: datetime, lease_seconds: int, ended: asyncio.Event
) -> None:
    """Push the running job's lease forward every third of it until ``ended`` is set.

    Why: a lease lets another worker take over a job whose worker died, but a job that is
    merely long (an export of hundreds of gigabytes, hours of copying) must not be taken over
    while it runs: two workers would pack the same bag at once. The lease is extended from the
    worker's ``now`` by the time actually elapsed, so a test's fixed clock still means
    something. Each renewal is its own short transaction; it waits its turn behind the
    handler's own transactions like any other writer.
    """
    started = time.monotonic()
    interval = max(1.0, lease_seconds / 3)
    while True:
        try:
            await asyncio.wait_for(ended.wait(), timeout=interval)
            return
        except TimeoutError:
            pass
        elapsed = timedelta(seconds=time.monotonic() - started)
        async with db.transaction():
            renewed = (
                await Job.update(
                    {Job.lease_until: now + elapsed + timedelta(seconds=lease_seconds)}
                )
                .where(
                    (Job.id == job_id) & (Job.locked_by == worker_id) & (Job.status == "running")
                )
                .returning(Job.id)
            )
        if not renewed:
            log.warning("job.lease_lost", job_id=job_id, worker=worker_id)
            return


async def _run_handler(func: Handler, job: dict[str, Any], running: _Running) -> None:
    """Run the handler while a companion task keeps the job's lease alive."""
    ended = asyncio.Event()
    keeper = asyncio.create_task(
        _renew_lease(job["id"], running.worker_id, running.now, running.lease_seconds, ended)
    )
    try:
        await func(json.loads(job["payload_json"]), running.now)
    finally:
        ended.set()
        # The keeper ends between renewals; a renewal under way finishes first (never
        # cancelled halfway through its transaction). Its own failure must not mask the job's.
        try:
            await keeper
        except Exception as exc:  # a lost renewal only risks a takeover
            log.warning("job.lease_renewal_failed", job_id=job["id"], error=str(exc))


async def run_one(worker_id: str, now: datetime, lease_seconds: int) -> str | None:
    """Claim and run one job; returns its id, or None when nothing is due."""
    job = _taken.pop(worker_id, None)
    if job is not None and not await _still_mine(job, worker_id, "running", now):
        job = None  # lost, or its lease ran out: claimed again below like any other
    if job is None:
        job = await claim(worker_id, now, lease_seconds)
    if job is None:
        return None
    func = _HANDLERS.get(job["kind"])
    running = _Running(job, worker_id, now, lease_seconds)
    token = _running.set(running)
    try:
        if func is None:
            raise LookupError(f"no handler registered for job kind {job['kind']!r}")
        await _run_handler(func, job, running)
    except Exception as exc:  # a failing job must not kill the worker
        error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
        if running.completed and await _still_mine(job, worker_id, "done"):
            # it failed after its end had committed with its effects: done it stays
            log.warning("job.failed_after_completion", job_id=job["id"], error=error)
            await _keep_for_later(worker_id, running.next_job)
            return job["id"]
        dead = job["attempts"] >= job["max_attempts"]
        async with db.transaction():
            await Job.update(
                {
                    Job.status: "dead" if dead else "queued",
                    Job.run_at: now + backoff(job["attempts"]),
                    Job.lease_until: None,
                    Job.locked_by: None,
                    Job.last_error: error,
                    Job.finished_at: now if dead else None,
                }
            ).where(
                (Job.id == job["id"]) & (Job.locked_by == worker_id) & (Job.status == "running")
            )
        return job["id"]
    finally:
        _running.reset(token)
    if running.completed:
        # its end committed with its effects, or (a handler that swallowed its own rollback)
        # neither did: then it is still running under its lease and will be run again, as
        # it should. The job taken with it is checked before it runs.
        await _keep_for_later(worker_id, running.next_job)
        return job["id"]
    async with db.transaction():
        await _done(job["id"], worker_id, now)
    return job["id"]


def job_out(row: Mapping[str, Any]) -> dict[str, Any]:
    from gdpr_vault.timeutil import utc_iso

    return {
        "id": row["id"],
        "kind": row["kind"],
        "status": row["status"],
        "run_at": utc_iso(row["run_at"]),
        "attempts": row["attempts"],
        "max_attempts": row["max_attempts"],
        "last_error": row["last_error"],
        "finished_at": utc_iso(row["finished_at"]),
    }


async def jobs_by_dedupe_key(keys: list[str]) -> dict[str, dict[str, Any]]:
    """The jobs enqueued under these dedupe keys, as :func:`job_out` shows them, by key.

    Lets a capability show how its own background work is going (a failing export, say)
    without reading this module's table itself.
    """
    if not keys:
        return {}
    rows = await Job.select().where(Job.dedupe_key.is_in(keys))
    return {row["dedupe_key"]: job_out(row) for row in rows}


async def retry_dead(job_id: str, *, actor: str, now: datetime) -> dict[str, Any]:
    """Put a dead job back in the queue with a fresh attempt budget, once its cause is fixed.

    One transaction with its audit event, like every state change; the handler must be
    idempotent, as every handler here is (a job may run again after a crash anyway).
    """
    if not is_valid_id(job_id, "job"):
        raise NotFound(f"job {job_id} not found", field="job_id")
    async with db.transaction():
        row = await Job.select().where(Job.id == job_id).first()
        if row is None:
            raise NotFound(f"job {job_id} not found", field="job_id")
        if row["status"] != "dead":
            raise Conflict(
                f"job is {row['status']}; only dead jobs are retried", rule="job-not-dead"
            )
        await Job.update(
            {
                Job.status: "queued",
                Job.attempts: 0,
                Job.run_at: now,
                Job.lease_until: None,
                Job.locked_by: None,
                Job.finished_at: None,
            }
        ).where((Job.id == job_id) & (Job.status == "dead"))
        await trail.append(
            now=now,
            actor=actor,
            action="job.retried",
            subject_type="job",
            subject_id=job_id,
            details={"kind": row["kind"], "last_error": (row["last_error"] or "")[:500]},
        )
        row = await Job.select().where(Job.id == job_id).first()
    return job_out(row)


async def release_taken(worker_id: str) -> None:
    """Put back the job this worker took for later but will not run (it is stopping), as if
    it had never been claimed, rather than leave it to its lease."""
    job = _taken.pop(worker_id, None)
    if job is not None:
        await _put_back(job, worker_id)


async def _put_back(job: dict[str, Any], worker_id: str) -> None:
    async with db.transaction():
        await Job.update(
            {
                Job.status: "queued",
                Job.attempts: job["attempts"] - 1,
                Job.lease_until: None,
                Job.locked_by: None,
            }
        ).where((Job.id == job["id"]) & (Job.locked_by == worker_id) & (Job.status == "running"))
