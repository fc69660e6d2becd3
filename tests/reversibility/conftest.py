"""Fixtures for reversibility: the API app, a real S3 over HTTP (moto), a tenant table in the
local PostgreSQL (or None, with the reason), and a client application's data on disk."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import api, tokens  # noqa: F401

PG_DSN = os.environ.get("REVERSIBILITY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    pytest.importorskip("moto.server")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    import boto3

    # Credentials travel in the source URL; the environment must not supply them.
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="AKIATESTREVERSIBLE",
        aws_secret_access_key="s3cr3t-never-shown",
        region_name="us-east-1",
    )


@pytest.fixture
def pg_tenant_table() -> Iterator[tuple[str, str] | tuple[None, str]]:
    """``(schema.table, dsn)`` in a throwaway schema, or ``(None, reason)`` if PG is down."""
    try:
        import psycopg

        conn = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3)
    except Exception as exc:  # any reason: the PostgreSQL part is then skipped, and says why
        yield None, f"PostgreSQL not reachable at {PG_DSN}: {str(exc).splitlines()[0]}"
        return
    schema = f"rev_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE SCHEMA "{schema}"')
    conn.execute(
        f'CREATE TABLE "{schema}".orders (id serial PRIMARY KEY, tenant_id text NOT NULL, '
        "item text, amount numeric)"
    )
    yield f"{schema}.orders", PG_DSN
    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    conn.close()


def make_app_data(root: Path, tenant: str, other: str = "other-tenant") -> dict[str, Path]:
    """Files and a SQLite database holding ``tenant``'s data beside another tenant's."""
    tenants = root / "tenants"
    mine = tenants / tenant
    (mine / "docs" / "sub").mkdir(parents=True)
    for n in range(6):
        (mine / "docs" / f"note-{n}.txt").write_text(f"note {n} for {tenant}\n" * 50)
    (mine / "docs" / "sub" / "contrat signé.pdf").write_bytes(os.urandom(20_000))
    outside = root / "outside-secret.txt"
    outside.write_text("not the tenant's\n")
    (mine / "escape-link").symlink_to(outside)
    (tenants / other).mkdir(parents=True)
    (tenants / other / "keep.txt").write_text("another tenant\n")
    db_path = root / "app.sqlite3"
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "CREATE TABLE employees (id INTEGER PRIMARY KEY, tenant_id TEXT, full_name TEXT)"
        )
        conn.execute("CREATE TABLE badges (id INTEGER PRIMARY KEY, tenant_id TEXT, door TEXT)")
        for n in range(5):
            conn.execute(
                "INSERT INTO employees (tenant_id, full_name) VALUES (?, ?)", (tenant, f"P{n}")
            )
            conn.execute("INSERT INTO badges (tenant_id, door) VALUES (?, ?)", (tenant, "north"))
        conn.execute("INSERT INTO employees (tenant_id, full_name) VALUES (?, 'X')", (other,))
    return {"tenants": tenants, "sqlite": db_path, "outside": outside}
