"""Fan-out benchmark: publish one sub-processor change to N clients (default 10,000).

Publication reads every client's contract terms in bulk, computes each window estimate and
writes one state row per client, then enqueues ``subprocessor.notify_batch`` jobs (500 clients
each); each job renders and writes its clients' notices (outbox messages, one
``notice.queued_batch`` trail event, through ``notifications.queue_notices``) and links them.
The fan-out time is publication plus running every job to completion (``jobs.queue.run_one``
until none is due). Two baselines, each one bulk statement in one transaction: the same 10,000
window rows (every column, into the real indexed table: what the breach benchmark does), and
10,000 short rows into a scratch table without indexes, with literal values (the floor).
Target: the fan-out within 10x of a bulk insert of the same number of rows. Runs on a temp
SQLite file, then on
PostgreSQL when reachable (``--pg`` admin DSN), each in a child process because the engine is
chosen once per process.

    .venv/bin/python benchmarks/subprocessors.py [--clients N] [--pg DSN] [--no-pg]
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
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


async def _seed_clients(n: int, now: datetime) -> list[str]:
    """N opensafe clients with one contact each, written in bulk (setup, not timed)."""
    from gdpr_vault.contracts.presets import load_preset
    from gdpr_vault.contracts.tables import Client, Contact, Contract, TermsVersion
    from gdpr_vault.contracts.terms import terms_to_dict
    from gdpr_vault.ids import new_id

    terms_json = json.dumps(terms_to_dict(load_preset("opensafe").terms), sort_keys=True)
    ids = []
    rows: dict[type, list] = {Client: [], Contact: [], Contract: [], TermsVersion: []}
    for i in range(n):
        cid, ctr = new_id("cli"), new_id("ctr")
        ids.append(cid)
        rows[Client].append(Client(id=cid, legal_name=f"Client {i}", country="FR", created_at=now))
        rows[Contact].append(
            Contact(
                id=new_id("con"),
                client=cid,
                name=f"DPO {i}",
                email=f"dpo{i}@client.example",
                role="privacy",
                created_at=now,
            )
        )
        rows[Contract].append(
            Contract(
                id=ctr,
                client=cid,
                reference=f"C-{i}",
                preset="opensafe",
                start_date=date(2026, 1, 1),
                created_at=now,
            )
        )
        rows[TermsVersion].append(
            TermsVersion(
                id=new_id("trm"),
                contract=ctr,
                version=1,
                terms_json=terms_json,
                reason="bench",
                author="bench",
                created_at=now,
            )
        )
    for table, items in rows.items():
        for start in range(0, len(items), 500):
            await table.insert(*items[start : start + 500])
    return ids


async def _same_rows_baseline(change_id: str) -> float:
    """The change's window rows, re-inserted in ONE ``INSERT ... SELECT`` over a JSON array."""
    from gdpr_vault import db
    from gdpr_vault.subprocessors.tables import SubprocessorChangeClient as C

    rows = await C.select().where(C.change == change_id)
    await C.delete().where(C.change == change_id)
    for row in rows:
        row["id"] = "b" + row["id"][1:]  # fresh primary keys, same shape
        for key, value in row.items():
            if isinstance(value, datetime):
                row[key] = value.isoformat()
    columns = [c._meta.db_column_name for c in C._meta.columns]
    names = ", ".join(f'"{c}"' for c in columns)
    table = C._meta.tablename
    if db.is_postgres():
        sql = (
            f"INSERT INTO {table} ({names}) SELECT {names} FROM "
            f"json_populate_recordset(NULL::{table}, {{}}::text::json)"
        )
    else:
        picks = ", ".join(f"json_extract(value, '$.{c}')" for c in columns)
        sql = f"INSERT INTO {table} ({names}) SELECT {picks} FROM json_each({{}})"
    payload = json.dumps(rows, default=str)
    began = time.perf_counter()
    async with db.transaction():
        await C.raw(sql, payload)
    elapsed = time.perf_counter() - began
    assert await C.count().where(C.change == change_id) == len(rows)
    return elapsed


async def _baseline(n: int) -> float:
    """The floor: the same number of rows in one bulk INSERT statement."""
    from gdpr_vault import db
    from gdpr_vault.subprocessors.tables import Subprocessor

    await Subprocessor.raw(
        "CREATE TABLE IF NOT EXISTS bench_rows (id VARCHAR(40) PRIMARY KEY, client_id "
        "VARCHAR(40), state VARCHAR(12), created_at VARCHAR(40))"
    )
    values = ",".join(
        f"('r{i:08d}', 'cli_{i:026d}', 'notified', '2026-03-02T09:00:00Z')" for i in range(n)
    )
    began = time.perf_counter()
    async with db.transaction():
        await Subprocessor.raw(f"INSERT INTO bench_rows VALUES {values}")
    elapsed = time.perf_counter() - began
    await Subprocessor.raw("DROP TABLE bench_rows")
    return elapsed


async def _run(n: int) -> dict[str, float]:
    from gdpr_vault import db
    from gdpr_vault.jobs.queue import run_one
    from gdpr_vault.migrate import migrate
    from gdpr_vault.subprocessors import jobs, service
    from gdpr_vault.subprocessors.schemas import ChangeIn, SubprocessorIn

    await migrate()
    await db.start_pool()
    try:
        now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        began = time.perf_counter()
        clients = await _seed_clients(n, now)
        seeded = time.perf_counter() - began
        sub = await service.create_subprocessor(
            SubprocessorIn(
                legal_name="Nuage Souverain SAS",
                country="FR",
                address="12 rue de la Paix, 75002 Paris",
                contact="dpo@nuage.example",
                activities=["hosting"],
                hosting_locations=["FR"],
            ),
            "bench",
            now,
        )
        change = await service.create_change(
            ChangeIn(
                kind="add",
                subprocessor_id=sub["id"],
                effective_date=date(2026, 5, 1),
                client_ids=clients,
            ),
            "bench",
            now,
        )
        assert jobs.notify_batch  # the fan-out job's handler is registered
        began = time.perf_counter()
        await service.publish_change(change["id"], "bench", now)
        publish = time.perf_counter() - began
        ran = 0
        while await run_one("bench", now, 600):
            ran += 1
        fan_out = time.perf_counter() - began
        done = await service.get_change(change["id"], now)
        assert done["clients"]["by_state"]["notified"] == n, done["clients"]
        baseline = await _baseline(n)
        same_rows = await _same_rows_baseline(change["id"])
        return {
            "seed": seeded,
            "publish": publish,
            "fan_out": fan_out,
            "jobs": ran,
            "baseline": baseline,
            "same_rows": same_rows,
        }
    finally:
        await db.close_pool()


def child(backend: str, n: int, pg: str) -> None:
    var_dir = Path(tempfile.mkdtemp(prefix="gv-bench-sub-"))
    os.environ["VAR_DIR"] = str(var_dir)
    os.environ["DEMO"] = "0"
    dbname = None
    if backend == "postgres":
        import psycopg

        dbname = f"gv_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        os.environ["DATABASE_URL"] = f"{pg.rsplit('/', 1)[0]}/{dbname}"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{var_dir / 'bench.sqlite3'}"
    try:
        from gdpr_vault.settings import Settings, set_settings

        set_settings(Settings.from_env())
        result = asyncio.run(_run(n))
        print(json.dumps(result))
    finally:
        if dbname:
            import psycopg

            with psycopg.connect(pg, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def pg_reachable(dsn: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except Exception:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--pg", default=os.environ.get("GDPR_VAULT_TEST_PG", DEFAULT_PG))
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.clients, args.pg)
        return
    backends = ["sqlite"]
    if not args.no_pg and pg_reachable(args.pg):
        backends.append("postgres")
    print(f"publish one sub-processor change to {args.clients:,} clients")
    print(
        "publish = the DPO's request: every window row and the notice jobs, one transaction;\n"
        "fan-out = publish + every job rendering and queueing the 10,000 written notices"
    )
    print(
        f"{'backend':<10} {'publish':>9} {'jobs':>5} {'fan-out':>9} {'same rows':>10} "
        f"{'scratch':>9} {'publish/same':>13} {'fan-out/same':>13} {'fan-out/scratch':>16}"
    )
    for backend in backends:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                backend,
                "--clients",
                str(args.clients),
                "--pg",
                args.pg,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            print(f"{backend}: failed\n{out.stderr[-2000:]}")
            continue
        result = json.loads(out.stdout.strip().splitlines()[-1])
        same, scratch = result["same_rows"], result["baseline"]
        print(
            f"{backend:<10} {result['publish']:>8.2f}s {result['jobs']:>5} "
            f"{result['fan_out']:>8.2f}s {same:>9.3f}s {scratch:>8.3f}s "
            f"{result['publish'] / same:>12.1f}x {result['fan_out'] / same:>12.1f}x "
            f"{result['fan_out'] / scratch:>15.0f}x"
        )
    print("target: fan-out within 10x of a bulk INSERT of the same number of rows")


if __name__ == "__main__":
    main()
