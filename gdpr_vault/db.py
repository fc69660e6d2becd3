"""Engine selection: the embedded SQLite file by default, PostgreSQL when DATABASE_URL says so.

Piccolo finds its engine through a ``piccolo_conf`` module; ours builds it from the settings so
the CLI, the web process, the worker and the tests all agree on one database per process.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from urllib.parse import unquote, urlparse

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from gdpr_vault.settings import get_settings
from gdpr_vault.writer_lock import sqlite_writer

os.environ.setdefault("PICCOLO_CONF", "gdpr_vault.piccolo_conf")


class UnsupportedDatabaseError(ValueError):
    pass


def sqlite_path(url: str) -> Path:
    """The database file a ``sqlite:///path`` DATABASE_URL names."""
    return Path(unquote(url.removeprefix("sqlite:///").removeprefix("sqlite://")))


def engine_from_url(url: str) -> Engine:
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A generous busy timeout: the worker and web requests share one file.
        return SQLiteEngine(path=str(path), timeout=30)
    if parsed.scheme in {"postgres", "postgresql"}:
        return PostgresEngine(
            config={"dsn": url.replace("postgres://", "postgresql://", 1)},
            extensions=(),
        )
    raise UnsupportedDatabaseError(
        f"DATABASE_URL scheme {parsed.scheme!r} is not supported (use sqlite:/// or postgresql://)"
    )


_engine: Engine | None = None


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        _engine = engine_from_url(get_settings().effective_database_url)
    return _engine


def is_postgres() -> bool:
    return isinstance(get_engine(), PostgresEngine)


#: Set inside :func:`reading` on SQLite: a write there would join a deferred transaction on
#: an old snapshot and fail at once ("database is locked"), so it is refused plainly.
_reading: ContextVar[bool] = ContextVar("db_reading", default=False)


@asynccontextmanager
async def transaction() -> AsyncIterator[None]:
    """One use case, one transaction; on SQLite take the write lock up front.

    SQLite's default deferred transactions upgrade to a write lock on first write and can then
    fail with "database is locked" instead of waiting; IMMEDIATE makes writers queue politely.
    """
    engine = get_engine()
    if _reading.get():
        raise RuntimeError("db.transaction() inside db.reading(): that snapshot is read-only")
    if isinstance(engine, SQLiteEngine):
        # queue for the write lock here (writer_lock.py): SQLite's own busy wait sleeps up to
        # 100 ms between tries, so two busy writers wasted much of their time asleep
        async with (
            sqlite_writer(Path(engine.path)),
            engine.transaction(transaction_type=TransactionType.immediate),
        ):
            yield
    else:
        async with engine.transaction():
            yield


@asynccontextmanager
async def reading() -> AsyncIterator[None]:
    """Many reads on one SQLite connection (a deferred transaction: one snapshot, no lock).

    Outside a transaction, Piccolo opens a new SQLite connection, with its own thread, for
    every query: about 1.8 ms each here, which made most of a 10,000-client publication's
    time (hundreds of chunked reads). Inside this block they share one connection. Only for
    reads: a write in a deferred transaction could fail to take the lock instead of waiting.
    On PostgreSQL, and inside a transaction already, it changes nothing (queries already
    share a pooled connection, or the transaction's).
    """
    engine = get_engine()
    if not isinstance(engine, SQLiteEngine) or engine.current_transaction.get() is not None:
        yield
        return
    token = _reading.set(True)
    try:
        async with engine.transaction(transaction_type=TransactionType.deferred):
            yield
    finally:
        _reading.reset(token)


async def start_pool() -> None:
    engine = get_engine()
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=10)


async def close_pool() -> None:
    engine = get_engine()
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()
