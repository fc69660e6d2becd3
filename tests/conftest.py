"""Test infrastructure: a fresh database per run (SQLite by default, PostgreSQL when
GDPR_VAULT_TEST_DB=postgres), a movable clock, and tokens for every role.

Tests that touch the database ask for the ``db`` fixture; they are marked ``uses_db`` so the
PostgreSQL pass of ``make test`` runs exactly them.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

_STATE: dict[str, str] = {}


def _pg_admin_dsn() -> str:
    return os.environ.get("GDPR_VAULT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "uses_db: needs the service database")
    config.addinivalue_line("markers", "other_loop: reaches the database from another loop")
    var_dir = Path(tempfile.mkdtemp(prefix="gdpr-vault-test-"))
    _STATE["var_dir"] = str(var_dir)
    if os.environ.get("GDPR_VAULT_TEST_DB") == "postgres":
        import psycopg

        name = f"gv_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        _STATE["pg_db"] = name
        base = _pg_admin_dsn().rsplit("/", 1)[0]
        # Tests query outside a pool (one connection per query): skip the refused TLS attempt.
        url = f"{base}/{name}?sslmode=disable"
    else:
        url = f"sqlite:///{var_dir / 'test.sqlite3'}"
    os.environ["DATABASE_URL"] = url
    os.environ["VAR_DIR"] = str(var_dir)
    os.environ["DEMO"] = "0"
    from gdpr_vault.settings import Settings, set_settings

    set_settings(Settings.from_env())
    from gdpr_vault.notifications import slots

    slots.VERIFY = True  # every grouped render in every test is checked against a direct one
    from gdpr_vault.migrate import migrate

    asyncio.run(migrate())


def pytest_unconfigure(config: pytest.Config) -> None:
    name = _STATE.get("pg_db")
    if name:
        import psycopg

        with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "db" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.uses_db)


@pytest.fixture
async def db(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """An empty database for this test (tables emptied, schema kept).

    On PostgreSQL the test's queries go through a pool in its event loop, as the service's
    do (without one, each query opened a new connection: minutes over the suite). Tests that
    reach the database from another loop (a live server thread, ``asyncio.run``) are marked
    ``other_loop`` and go without.
    """
    from gdpr_vault import db as database
    from gdpr_vault.tables import ALL_TABLES

    engine = database.get_engine()
    if getattr(engine, "pool", None) is not None:
        engine.pool = None  # left by a test that failed early: bound to a loop now closed
    pooled = database.is_postgres() and request.node.get_closest_marker("other_loop") is None
    if pooled:
        await database.start_pool()
    try:
        for table in reversed(ALL_TABLES):
            await table.delete(force=True)
        yield
    finally:
        if pooled and getattr(engine, "pool", None) is not None:
            await database.close_pool()


@pytest.fixture
def clock() -> Iterator[object]:
    from gdpr_vault.timeutil import FrozenClock

    yield FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def var_dir() -> Path:
    return Path(_STATE["var_dir"])
