"""The SQLite writer lock: one holder across tasks and processes, re-entrant, nothing left
behind by a cancelled wait."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gdpr_vault.writer_lock import sqlite_writer


async def test_tasks_take_turns_and_a_holder_may_nest(tmp_path: Path):
    database = tmp_path / "vault.sqlite3"
    order: list[str] = []

    async def writer(name: str) -> None:
        async with sqlite_writer(database):
            order.append(f"{name} in")
            async with sqlite_writer(database):  # nested: same task, no self-deadlock
                await asyncio.sleep(0.02)
            order.append(f"{name} out")

    await asyncio.gather(writer("a"), writer("b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


async def _holder(database: Path, held: asyncio.Event, release: asyncio.Event) -> None:
    async with sqlite_writer(database):
        held.set()
        await release.wait()


async def test_a_cancelled_wait_leaves_the_lock_free(tmp_path: Path):
    database = tmp_path / "vault.sqlite3"
    held = asyncio.Event()
    release = asyncio.Event()

    async def waiter() -> None:
        async with sqlite_writer(database):
            pytest.fail("the waiter should have been cancelled before it got the lock")

    holding = asyncio.create_task(_holder(database, held, release))
    await held.wait()
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    await holding
    async with asyncio.timeout(1):
        async with sqlite_writer(database):
            pass


async def test_another_process_holding_the_lock_makes_us_wait(tmp_path: Path):
    database = tmp_path / "vault.sqlite3"
    lock_file = tmp_path / "vault.sqlite3.writer-lock"
    script = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(lock_file)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(0.3)\n"
    )
    other = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert other.stdout is not None and other.stdout.readline().strip() == "held"
    began = time.monotonic()
    async with sqlite_writer(database):
        waited = time.monotonic() - began
    assert other.wait(timeout=10) == 0
    assert waited >= 0.15  # it waited for the other process to let go


async def test_a_writer_that_never_gets_its_turn_gives_up_as_sqlite_would(tmp_path, monkeypatch):
    import sqlite3

    from gdpr_vault import writer_lock

    monkeypatch.setattr(writer_lock, "TIMEOUT_SECONDS", 0.2)
    database = tmp_path / "vault.sqlite3"
    held = asyncio.Event()
    release = asyncio.Event()
    holding = asyncio.create_task(_holder(database, held, release))
    await held.wait()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        async with sqlite_writer(database):
            pass
    release.set()
    await holding
