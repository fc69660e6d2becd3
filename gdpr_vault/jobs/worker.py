"""The worker loop: periodic schedules plus whatever jobs are due.

The same loop runs as ``gdpr-vault worker`` and inside ``gdpr-vault serve`` on the embedded
default, so a single-process install still gets its checkpoints and timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from datetime import datetime, timedelta

import structlog

from gdpr_vault.breaches import jobs as breach_jobs  # noqa: F401  (registers handlers)
from gdpr_vault.evidence.checkpoints import create_checkpoint
from gdpr_vault.jobs.queue import enqueue, handler, release_taken, run_one
from gdpr_vault.notifications.delivery import deliver_due
from gdpr_vault.reversibility import jobs as reversibility_jobs  # noqa: F401  (handlers)
from gdpr_vault.settings import Settings
from gdpr_vault.subprocessors import jobs as subprocessor_jobs  # noqa: F401  (handlers)
from gdpr_vault.timeutil import Clock

log = structlog.get_logger("gdpr_vault.worker")


@handler("trail.checkpoint")
async def _checkpoint(_: dict[str, object], now: datetime) -> None:
    await create_checkpoint(now)


async def schedule_periodic(now: datetime, settings: Settings) -> None:
    """Periodic jobs are deduplicated by their time slot, so N workers schedule each once."""
    from gdpr_vault import db

    interval = max(60, settings.checkpoint_interval_seconds)
    slot = int(now.timestamp()) // interval
    async with db.transaction():
        await enqueue(
            "trail.checkpoint",
            {},
            run_at=now,
            dedupe_key=f"trail.checkpoint:{slot}",
        )


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def run_worker(
    settings: Settings, clock: Clock, stop: asyncio.Event, *, max_idle_loops: int | None = None
) -> None:
    me = worker_id()
    log.info("worker.started", worker=me)
    try:
        await _loop(me, settings, clock, stop, max_idle_loops)
    finally:  # whatever ended the loop, the job taken for later goes back to the queue
        with contextlib.suppress(Exception):
            await release_taken(me)
    log.info("worker.stopped", worker=me)


async def _loop(
    me: str, settings: Settings, clock: Clock, stop: asyncio.Event, max_idle_loops: int | None
) -> None:
    idle = 0
    next_schedule = clock()
    while not stop.is_set():
        now = clock()
        if now >= next_schedule:
            await schedule_periodic(now, settings)
            next_schedule = now + timedelta(seconds=60)
        ran = await run_one(me, now, settings.job_lease_seconds)
        if ran:
            log.info("job.ran", job_id=ran)
            idle = 0
            continue
        if await deliver_due(me, now, settings, clock=clock):  # the notifications outbox
            idle = 0
            continue
        idle += 1
        if max_idle_loops is not None and idle >= max_idle_loops:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.worker_poll_seconds)
