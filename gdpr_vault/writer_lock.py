"""One SQLite writer at a time, handed over within a millisecond or two.

SQLite lets one connection write at a time; a second ``BEGIN IMMEDIATE`` waits in SQLite's
busy handler, which sleeps 1, 2, 5, 10 … then 100 ms between tries. Two worker processes that
each render a batch and then write it fell into step: both rendered, then one wrote while the
other slept through most of that write and then some. A 10,000-client fan-out spent about a
third of its time so (``benchmarks/subprocessors.py``), and with four processes one writer
starved for a second.

So write transactions on SQLite first take this lock: a thread lock for the tasks of this
process, and ``flock`` on a file beside the database for the other processes. Both are tried
without blocking and retried every millisecond or few, so a waiting task never holds a
thread and a cancelled wait leaves nothing behind; after :data:`TIMEOUT_SECONDS` it gives up
as SQLite would. It is not a queue: the next writer is whoever tries first. SQLite's own
locking stays the authority; this only decides who asks it next. See
docs/adr/0007-sqlite-writer-lock.md.
"""

from __future__ import annotations

import asyncio
import contextvars
import fcntl
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

#: How often a waiting writer tries again: every millisecond at first, then less often, so
#: many waiters (a busy web process) do not spin.
POLL_SECONDS = 0.001
POLL_MAX_SECONDS = 0.005
#: As long as SQLite's own busy timeout (db.py): a writer stuck longer than this is an error.
TIMEOUT_SECONDS = 30.0


class WriterLockTimeout(sqlite3.OperationalError):
    """What SQLite itself raises when its busy timeout runs out: the database is locked."""


_held: contextvars.ContextVar[bool] = contextvars.ContextVar("sqlite_writer_held", default=False)
_thread_lock = threading.Lock()
_files: dict[str, int] = {}
_files_guard = threading.Lock()


def _fd(path: Path) -> int:
    """One descriptor per lock file and process: flock locks belong to the open file."""
    key = str(path)
    with _files_guard:
        fd = _files.get(key)
        if fd is None:
            fd = _files[key] = os.open(key, os.O_RDWR | os.O_CREAT, 0o600)
        return fd


def _try_acquire(fd: int) -> bool:
    if not _thread_lock.acquire(blocking=False):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _thread_lock.release()
        return False
    except BaseException:
        _thread_lock.release()
        raise
    return True


def _release(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        _thread_lock.release()


@asynccontextmanager
async def sqlite_writer(database: Path) -> AsyncIterator[None]:
    """Hold the writer lock of ``database`` (re-entrant within a task)."""
    if _held.get():
        yield
        return
    fd = _fd(database.with_name(database.name + ".writer-lock"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT_SECONDS
    pause = POLL_SECONDS
    while not _try_acquire(fd):
        if loop.time() >= deadline:
            raise WriterLockTimeout(
                f"database is locked: no write turn in {TIMEOUT_SECONDS:.0f} s ({database.name})"
            )
        await asyncio.sleep(pause)
        pause = min(POLL_MAX_SECONDS, pause * 1.25)
    token = _held.set(True)
    try:
        yield
    finally:
        _held.reset(token)
        _release(fd)
