"""Fan-out benchmark: publish one sub-processor change to N clients (default 10,000).

Publication reads every client's contract terms in bulk, computes each window estimate and
writes one state row per client, then enqueues ``subprocessor.notify_batch`` jobs (500 clients
each); each job renders its clients' notices (grouped rendering, ``notifications/slots.py``),
then writes them (outbox messages, one ``notice.queued_batch`` trail event) and links them in
one transaction. The fan-out time runs from the DPO's publish request until every client is
notified, measured two ways on a fresh change each:

- by ``gdpr-vault worker --processes 2`` (one process per core, as a 2-core install runs it),
  started and idle before the change is published, polling every 20 ms;
- by the benchmark's own process running every job one after the other (``run_one``).

Two baselines, each one bulk statement in one transaction, median of three: the same 10,000
window rows (every column, into the real indexed table: what the breach benchmark does), and
10,000 short rows into a scratch table without indexes, with literal values (the floor).
Target: the fan-out within 10x of a bulk insert of the same number of rows. Runs on a temp
SQLite file, then on PostgreSQL when reachable (``--pg`` admin DSN), each in a child process
because the engine is chosen once per process.

    .venv/bin/python benchmarks/subprocessors.py [--clients N] [--pg DSN] [--no-pg]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
#: ``gdpr-vault worker --processes``: one per core of the 2-core benchmark machine.
WORKER_PROCESSES = 2


async def _seed_clients(n: int, now: datetime) -> list[str]:
    """N opensafe clients with one contact each, written in bulk (setup, not timed)."""
    from gdpr_vault.contracts.presets import load_preset
    from gdpr_vault.contracts.service import terms_text
    from gdpr_vault.contracts.tables import Client, Contact, Contract, TermsVersion
    from gdpr_vault.ids import new_id

    stored = terms_text(load_preset("opensafe").terms)  # the text and digest the service writes
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
                **stored,
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


async def _create_change(service: Any, clients: list[str], now: datetime) -> str:
    from gdpr_vault.subprocessors.schemas import ChangeIn, SubprocessorIn

    sub = await service.create_subprocessor(
        SubprocessorIn(
            legal_name=f"Nuage Souverain SAS {uuid.uuid4().hex[:6]}",
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
    return str(change["id"])


def _closed_port() -> int:
    """A loopback port nobody listens on: the workers' mail delivery fails fast there."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _start_workers(processes: int, log: Path) -> subprocess.Popen[bytes]:
    """``gdpr-vault worker --processes N``, polling every 20 ms; returns once every worker
    has started and the queue is idle (the start-up checkpoint has run)."""
    from gdpr_vault.jobs.tables import Job

    env = {**os.environ, "WORKER_POLL_SECONDS": "0.02", "SMTP_PORT": str(_closed_port())}
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "gdpr_vault.cli", "worker", "--processes", str(processes)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        started = log.read_text(errors="replace").count("worker.started")
        if started >= processes and not await Job.exists().where(Job.status != "done"):
            return worker
        if worker.poll() is not None:
            break
        await asyncio.sleep(0.05)
    worker.kill()
    raise RuntimeError(f"the workers did not start:\n{log.read_text(errors='replace')[-2000:]}")


def _stop_workers(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()


_poll: sqlite3.Connection | None = None


async def _jobs_left() -> bool:
    """Whether any job is unfinished. Asked every 20 ms while the workers run, so on SQLite it
    asks through one open connection: through Piccolo each look would open a connection and a
    thread, about 2 ms of CPU taken from the two cores the workers share."""
    global _poll
    from gdpr_vault import db
    from gdpr_vault.jobs.tables import Job

    if db.is_postgres():
        return bool(await Job.exists().where(Job.status != "done"))
    if _poll is None:
        _poll = sqlite3.connect(db.get_engine().path, isolation_level=None)  # type: ignore[attr-defined]
    return _poll.execute("SELECT 1 FROM job WHERE status != 'done' LIMIT 1").fetchone() is not None


async def _notified(change_id: str) -> int:
    from gdpr_vault.subprocessors.tables import SubprocessorChangeClient as C

    return int(await C.count().where((C.change == change_id) & (C.state == "notified")))


async def _fan_out_by_workers(service: Any, clients: list[str], now: datetime, log: Path) -> dict:
    """Publish, then wait until the worker processes have notified every client."""
    worker = await _start_workers(WORKER_PROCESSES, log)
    try:
        change_id = await _create_change(service, clients, now)
        began = time.perf_counter()
        await service.publish_change(change_id, "bench", now)
        publish = time.perf_counter() - began
        while await _jobs_left():  # a look at the small job table every 20 ms
            await asyncio.sleep(0.02)
        fan_out = time.perf_counter() - began
        assert await _notified(change_id) == len(clients)
    finally:
        _stop_workers(worker)
    return {"publish": publish, "fan_out": fan_out, "change_id": change_id}


async def _fan_out_in_process(service: Any, clients: list[str], now: datetime) -> dict:
    """Publish, then run every job here, one after the other (one process, one core)."""
    from gdpr_vault.jobs.queue import run_one

    change_id = await _create_change(service, clients, now)
    began = time.perf_counter()
    await service.publish_change(change_id, "bench", now)
    publish = time.perf_counter() - began
    while await run_one("bench", now, 600):
        pass
    fan_out = time.perf_counter() - began
    assert await _notified(change_id) == len(clients)
    return {"publish": publish, "fan_out": fan_out, "change_id": change_id}


async def _run(n: int, var_dir: Path) -> dict[str, float]:
    from gdpr_vault import db
    from gdpr_vault.migrate import migrate
    from gdpr_vault.subprocessors import jobs, service

    await migrate()
    await db.start_pool()
    try:
        now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        began = time.perf_counter()
        clients = await _seed_clients(n, now)
        seeded = time.perf_counter() - began
        assert jobs.notify_batch  # the fan-out job's handler is registered
        workers = await _fan_out_by_workers(service, clients, now, var_dir / "workers.log")
        single = await _fan_out_in_process(service, clients, now)
        baseline = statistics.median([await _baseline(n) for _ in range(3)])
        same_rows = statistics.median(
            [await _same_rows_baseline(single["change_id"]) for _ in range(3)]
        )
        return {
            "seed": seeded,
            "publish": workers["publish"],
            "fan_out": workers["fan_out"],
            "publish_1": single["publish"],
            "fan_out_1": single["fan_out"],
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
        result = asyncio.run(_run(n, var_dir))
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
        f"fan-out = publish until every notice is rendered, queued and linked, by "
        f"`gdpr-vault worker --processes {WORKER_PROCESSES}`\n"
        "  (1 proc = the same jobs run one after the other in the benchmark's own process);\n"
        "same rows = the 10,000 window rows in one bulk INSERT (median of 3)"
    )
    print(
        f"{'backend':<10} {'publish':>9} {'fan-out':>9} {'1 proc':>8} {'same rows':>10} "
        f"{'scratch':>9} {'publish/same':>13} {'fan-out/same':>13} {'1 proc/same':>12}"
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
        r = json.loads(out.stdout.strip().splitlines()[-1])
        same = r["same_rows"]
        print(
            f"{backend:<10} {r['publish']:>8.2f}s {r['fan_out']:>8.2f}s {r['fan_out_1']:>7.2f}s "
            f"{same:>9.3f}s {r['baseline']:>8.3f}s {r['publish'] / same:>12.1f}x "
            f"{r['fan_out'] / same:>12.1f}x {r['fan_out_1'] / same:>11.1f}x"
        )
    print("target: fan-out within 10x of a bulk INSERT of the same number of rows")


if __name__ == "__main__":
    main()
