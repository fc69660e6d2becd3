"""Benchmark of the breach fan-out (``python benchmarks/breaches.py [--clients N]``).

One breach is fanned out to N clients (default 10,000) on the five presets: reading their
contracts and terms, computing each deadline, inserting N notice obligations and scheduling the
escalation jobs, in one transaction (``service.mark_affected``). Beside it, in the same run and
database, the baseline inserts the same N obligation rows in ONE bulk statement (a JSON array
expanded by the database). Target: the fan-out within 10x of the baseline.

Runs on a temporary SQLite file, then on PostgreSQL when reachable (GDPR_VAULT_TEST_PG, default
postgresql://postgres@127.0.0.1:5432/test; a temporary database is created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

PRESETS = ("ips", "opensafe", "sibio", "octipas", "omr")
PG_ADMIN = os.environ.get("GDPR_VAULT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def seed_clients(n: int, now: datetime) -> list[str]:
    """N clients with one active contract each (bulk, untimed: this is the set-up)."""
    from gdpr_vault.contracts.presets import load_preset
    from gdpr_vault.contracts.service import terms_text
    from gdpr_vault.contracts.tables import Client, Contract, TermsVersion
    from gdpr_vault.ids import new_id

    terms = {p: terms_text(load_preset(p).terms) for p in PRESETS}  # text and digest, as stored
    ids: list[str] = []
    for start in range(0, n, 1000):
        clients, contracts, versions = [], [], []
        for i in range(start, min(n, start + 1000)):
            preset = PRESETS[i % len(PRESETS)]
            client_id, contract_id = new_id("cli"), new_id("ctr")
            ids.append(client_id)
            clients.append(
                Client(id=client_id, legal_name=f"Client {i}", country="FR", created_at=now)
            )
            contracts.append(
                Contract(
                    id=contract_id,
                    client=client_id,
                    reference=f"CTR-{i}",
                    preset=preset,
                    start_date=now.date(),
                    time_zone="Europe/Paris",
                    status="active",
                    current_version=1,
                    created_at=now,
                )
            )
            versions.append(
                TermsVersion(
                    id=new_id("trm"),
                    contract=contract_id,
                    version=1,
                    **terms[preset],
                    reason="bench",
                    author="bench",
                    created_at=now,
                )
            )
        await Client.insert(*clients)
        await Contract.insert(*contracts)
        await TermsVersion.insert(*versions)
    return ids


async def baseline(rows: list[dict[str, object]]) -> float:
    """The same rows in one INSERT ... SELECT over a JSON array bound as one parameter."""
    from gdpr_vault import db
    from gdpr_vault.breaches.tables import BreachObligation

    columns = [c._meta.db_column_name for c in BreachObligation._meta.columns]
    payload = json.dumps(rows, default=str)
    names = ", ".join(f'"{c}"' for c in columns)
    if db.is_postgres():
        sql = (
            f"INSERT INTO breach_obligation ({names}) SELECT {names} FROM "
            "json_populate_recordset(NULL::breach_obligation, {}::text::json)"
        )
    else:
        picks = ", ".join(f"json_extract(value, '$.{c}')" for c in columns)
        sql = f"INSERT INTO breach_obligation ({names}) SELECT {picks} FROM json_each({{}})"
    began = time.perf_counter()
    async with db.transaction():
        await BreachObligation.raw(sql, payload)
    return time.perf_counter() - began


async def run(n: int) -> None:
    from gdpr_vault import db
    from gdpr_vault.breaches import service
    from gdpr_vault.breaches.schemas import AffectedClientIn, BreachFactsIn, MarkClientsIn
    from gdpr_vault.breaches.tables import BreachObligation
    from gdpr_vault.migrate import migrate

    await migrate()
    await db.start_pool()
    try:
        now = datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
        ids = await seed_clients(n, now)
        facts = BreachFactsIn(
            title="bench",
            aware_at=datetime(2026, 3, 28, 21, 30, tzinfo=UTC),
            detection_method="benchmark",
        )
        breach = await service.create_breach(facts, "bench", now)
        request = MarkClientsIn(clients=[AffectedClientIn(client_id=c) for c in ids])

        began = time.perf_counter()
        result = await service.mark_affected(breach["id"], request, "bench", now)
        fan_out = time.perf_counter() - began
        assert result["marked"] == n, result["marked"]

        rows = await BreachObligation.select().where(BreachObligation.breach == breach["id"])
        await BreachObligation.delete().where(BreachObligation.breach == breach["id"])
        for row in rows:
            row["id"] = "b" + row["id"][1:]  # fresh primary keys, same shape
            row["extend"] = int(row["extend"]) if not db.is_postgres() else row["extend"]
            for key in ("start_at", "due_at", "marked_at", "notified_at"):
                if row[key] is not None:
                    row[key] = row[key].isoformat()
        base = await baseline(rows)
        assert await BreachObligation.count() == n

        engine = "PostgreSQL" if db.is_postgres() else "SQLite"
        ratio = fan_out / base
        print(
            f"{engine:<10} clients={n:>7,}  fan-out (deadlines + obligations + jobs): "
            f"{fan_out:7.3f} s  ({n / fan_out:9,.0f}/s)   bulk-insert baseline: {base:7.3f} s   "
            f"ratio {ratio:5.1f}x  {'OK' if ratio <= 10 else 'ABOVE TARGET'} (target <= 10x)"
        )
    finally:
        await db.close_pool()


def child(engine: str, n: int) -> None:
    var_dir = Path(tempfile.mkdtemp(prefix="gv-bench-breaches-"))
    os.environ["VAR_DIR"] = str(var_dir)
    os.environ["DEMO"] = "0"
    name = None
    if engine == "postgres":
        import psycopg

        name = f"gv_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_URL"] = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{var_dir / 'bench.sqlite3'}"
    from gdpr_vault.settings import Settings, set_settings

    set_settings(Settings.from_env())
    try:
        asyncio.run(run(n))
    finally:
        if name:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except Exception:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--engine", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        child(args.engine, args.clients)
        return
    engines = ["sqlite"] + (["postgres"] if postgres_reachable() else [])
    for engine in engines:  # one process each: the database engine is chosen once per process
        subprocess.run(
            [sys.executable, __file__, "--clients", str(args.clients), "--engine", engine],
            check=True,
        )
    if "postgres" not in engines:
        print(f"PostgreSQL not reachable at {PG_ADMIN.split('@')[-1]}: skipped")


if __name__ == "__main__":
    main()
