"""Register benchmark: full JSON and CSV exports and one client's "as of" view, beside a baseline.

Run ``python benchmarks/registers.py`` (5,000 clients x 50 entries = 250,000 processing x client
rows) or ``--clients 500`` for a quick run. Each backend runs in its own subprocess (a fresh
engine, a clean ``ru_maxrss``): a temporary SQLite file always, and a temporary PostgreSQL
database when one answers at ``REGISTERS_BENCH_PG`` (default postgresql://postgres@127.0.0.1/test).

The register: 200 shared activities (each client uses 30 of them, so each is shared by about
750 clients at 5,000 clients) plus 20 client-specific activities per client; every shared
activity has two versions so "as of" has history to choose from. Rows are seeded with plain SQL.

Measured (median of ``--runs``; peak Python memory by tracemalloc in a separate pass, at the
full size and at a tenth of the clients, to show it does not grow with the rows):

- ``json``: ``registers.exports.write_export`` of the whole register (streamed, hashed, signed);
- ``csv``: the same as CSV, one row per activity x client;
- ``as-of``: ``registers.service.client_register`` of one client at a past instant;
- baseline: the same rows fetched by one plain SQL query through the driver and written with
  the ``json`` / ``csv`` stdlib modules (no paging, no completeness, no signing).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_DSN = os.environ.get("REGISTERS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
SHARED, PER_CLIENT_SHARED, OWN = 200, 30, 20
T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(days=30)  # second version of the shared activities
AS_OF = T0 + timedelta(days=10)


def _id(prefix: str, n: int) -> str:
    return f"{prefix}_{n:026d}"


def entry(reference: str, name: str) -> str:
    return json.dumps(
        {
            "reference": reference,
            "status": "active",
            "name": name,
            "description": "SaaS RH hébergé en France, secours dans l'EEE",
            "processing_operations": ["collecte", "enregistrement", "consultation", "effacement"],
            "purposes": ["gestion du personnel"],
            "data_subject_categories": ["salariés du client"],
            "data_categories": ["identification", "connexion"],
            "special_categories": [],
            "recipients_internal": ["exploitation"],
            "recipients_external": [],
            "retention": "durée du contrat + restitution",
            "hosting_countries": ["DE", "FR"],
            "transfers": [
                {
                    "country": "US",
                    "recipient": "Helpdesk Inc.",
                    "subprocessor_id": None,
                    "safeguard": "scc-2021-module-3",
                    "safeguard_reference": "DPA annexe 3",
                }
            ],
            "security_measures": ["chiffrement", "MFA"],
            "availability_restoration": "sauvegardes, PRA testé",
            "security_testing": "pentest annuel",
            "subprocessors": [{"subprocessor_id": _id("spr", 1), "activities": "hébergement"}],
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def seed_rows(clients: int):
    """(table, columns, rows) in insertion order."""
    stamp = T0
    client_rows = [
        (
            _id("cli", i),
            f"Client n°{i} — Société Générale d'Exemples",
            "SIREN",
            "FR",
            "fr",
            f"DPO {i}",
            f"dpo{i}@client.example",
            stamp,
        )
        for i in range(clients)
    ]
    yield (
        "client",
        ("id", "legal_name", "registration_scheme", "country", "language", "dpo_name",
         "dpo_email", "created_at"),
        client_rows,
    )  # fmt: skip
    yield (
        "subprocessor",
        ("id", "legal_name", "country", "contact", "hosting_locations", "status", "created_at",
         "updated_at", "address", "activities", "data_categories"),
        [(_id("spr", 1), "Hébergeur Lyonnais SAS", "FR", "dpo@h.example", '["FR","DE"]',
          "active", stamp, stamp, "", "[]", "[]")],
    )  # fmt: skip
    activities, versions, links = [], [], []
    for s in range(SHARED):
        aid = _id("pra", s)
        activities.append((aid, f"SH-{s:03d}", 2, "active", stamp, T1))
        versions.append(
            (_id("pav", 2 * s), aid, 1, entry(f"SH-{s:03d}", f"Activité mutualisée {s}"),
             "bench", "initial", T0, T1)
        )  # fmt: skip
        versions.append(
            (_id("pav", 2 * s + 1), aid, 2, entry(f"SH-{s:03d}", f"Activité mutualisée {s} v2"),
             "bench", "rename", T1, None)
        )  # fmt: skip
    n = SHARED
    link = 0
    for i in range(clients):
        cid = _id("cli", i)
        for k in range(PER_CLIENT_SHARED):
            links.append((_id("pac", link), _id("pra", (i * 7 + k) % SHARED), cid, T0))
            link += 1
        for k in range(OWN):
            aid = _id("pra", n)
            ref = f"C{i}-{k:02d}"
            activities.append((aid, ref, 1, "active", stamp, stamp))
            versions.append(
                (_id("pav", 10 * SHARED + n), aid, 1, entry(ref, f"Traitement propre {k}"),
                 "bench", "initial", T0, None)
            )  # fmt: skip
            links.append((_id("pac", link), aid, cid, T0))
            link += 1
            n += 1
    yield (
        "processing_activity",
        ("id", "reference", "current_version", "status", "created_at", "updated_at"),
        activities,
    )
    yield (
        "activity_version",
        ("id", "activity", "version", "data_json", "author", "reason", "valid_from", "valid_to"),
        versions,
    )
    yield (
        "activity_client",
        ("id", "activity", "client", "added_at", "added_by", "added_reason"),
        [(*row, "bench", "seed") for row in links],
    )
    yield (
        "activity_subprocessor",
        ("id", "activity", "subprocessor", "activities", "added_at", "added_by", "added_reason"),
        [(_id("pas", a), a_row[0], _id("spr", 1), "hébergement", T0, "bench", "seed")
         for a, a_row in enumerate(activities)],
    )  # fmt: skip


def seed(url: str, clients: int) -> int:
    rows_total = 0
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        with conn:
            for table, columns, rows in seed_rows(clients):
                marks = ",".join("?" * len(columns))
                conn.executemany(
                    f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})",
                    [tuple(str(v) if isinstance(v, datetime) else v for v in r) for r in rows],
                )
                rows_total += len(rows) if table == "activity_client" else 0
        conn.close()
    else:
        import psycopg

        with psycopg.connect(url) as conn, conn.cursor() as cur:
            for table, columns, rows in seed_rows(clients):
                with cur.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                rows_total += len(rows) if table == "activity_client" else 0
    return rows_total


# -- baselines: one query, stdlib serialisation ----------------------------------------------

BASELINE_SQL = (
    "SELECT ac.client, c.legal_name, c.dpo_email, v.activity, v.version, v.data_json "
    "FROM activity_client ac JOIN activity_version v ON v.activity = ac.activity "
    "AND v.valid_to IS NULL JOIN client c ON c.id = ac.client "
    "WHERE ac.removed_at IS NULL ORDER BY ac.client, ac.activity"
)


def _cursor(url: str):
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        return conn, conn.execute(BASELINE_SQL)
    import psycopg

    conn = psycopg.connect(url)
    conn.execute("SET cursor_tuple_fraction = 1.0")  # plan for the whole result, not a first row
    cur = conn.cursor(name="baseline")  # server-side cursor: streamed too
    cur.itersize = 5000
    cur.execute(BASELINE_SQL)
    return conn, cur


def baseline_csv(url: str, out: Path) -> None:
    conn, cur = _cursor(url)
    with out.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["client_id", "client", "dpo", "activity_id", "version", "reference",
                         "name", "purposes", "data_categories", "transfers"])  # fmt: skip
        for client, name, dpo, activity, version, data in cur:
            e = json.loads(data)
            writer.writerow(
                [client, name, dpo, activity, version, e["reference"], e["name"],
                 "\n".join(e["purposes"]), "\n".join(e["data_categories"]),
                 json.dumps(e["transfers"], ensure_ascii=False)]
            )  # fmt: skip
    conn.close()


def baseline_json(url: str, out: Path) -> None:
    conn, cur = _cursor(url)
    with out.open("w", encoding="utf-8") as handle:
        handle.write('{"rows": [\n')
        first = True
        for client, name, dpo, activity, version, data in cur:
            row = {"client_id": client, "client": name, "dpo": dpo, "activity_id": activity,
                   "version": version, **json.loads(data)}  # fmt: skip
            handle.write(("" if first else ",\n") + json.dumps(row, ensure_ascii=False))
            first = False
        handle.write("\n]}\n")
    conn.close()


# -- one backend, in this process ------------------------------------------------------------


def timed(fn, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds (CPU: this process, the SQLite engine's threads included)."""
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def peak_of(fn) -> int:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def run_backend(backend: str, clients: int, runs: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="gv-bench-registers-"))
    pg_name = None
    if backend == "sqlite":
        url = f"sqlite:///{work / 'bench.sqlite3'}"
    else:
        import psycopg

        pg_name = f"gv_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        url = f"{PG_DSN.rsplit('/', 1)[0]}/{pg_name}"
    os.environ.update(DATABASE_URL=url, VAR_DIR=str(work), DEMO="0", LOG_LEVEL="WARNING")
    from gdpr_vault.settings import Settings, set_settings

    set_settings(Settings.from_env())
    try:
        return asyncio.run(_measure(backend, url, clients, runs, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if pg_name:
            import psycopg

            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


async def _measure(backend: str, url: str, clients: int, runs: int, work: Path) -> dict:
    from gdpr_vault import db
    from gdpr_vault.migrate import migrate
    from gdpr_vault.registers import exports, service

    await migrate()
    start = time.perf_counter()
    rows = seed(url, clients)
    seed_s = time.perf_counter() - start
    await db.start_pool()
    now = T1 + timedelta(days=1)

    async def export(fmt: str, path: Path) -> None:
        request = exports.new_request(fmt, None, now, None)
        await exports.write_export(request, path, actor="bench")

    async def atimed(make, n: int) -> tuple[float, float]:
        walls, cpus = [], []
        for _ in range(n):
            start, cpu = time.perf_counter(), time.process_time()
            await make()
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        return statistics.median(walls), statistics.median(cpus)

    async def apeak(make) -> int:
        tracemalloc.start()
        await make()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak

    one = _id("cli", clients // 2)
    result: dict = {"backend": backend, "clients": clients, "rows": rows, "seed_s": seed_s}
    result["json_s"] = await atimed(lambda: export("json", work / "r.json"), runs)
    result["csv_s"] = await atimed(lambda: export("csv", work / "r.csv"), runs)
    result["json_bytes"] = (work / "r.json").stat().st_size
    result["csv_bytes"] = (work / "r.csv").stat().st_size
    result["asof_s"] = await atimed(lambda: service.client_register(one, AS_OF), max(runs, 5))
    view = await service.client_register(one, AS_OF)
    result["asof_entries"] = len(view["activities"])
    result["asof_v1"] = all(
        a["version"] == 1 for a in view["activities"] if a["reference"].startswith("SH-")
    )
    result["base_json_s"] = timed(lambda: baseline_json(url, work / "b.json"), runs)
    result["base_csv_s"] = timed(lambda: baseline_csv(url, work / "b.csv"), runs)
    result["peak_json"] = await apeak(lambda: export("json", work / "p.json"))
    result["peak_csv"] = await apeak(lambda: export("csv", work / "p.csv"))
    result["peak_base_csv"] = peak_of(lambda: baseline_csv(url, work / "pb.csv"))
    await db.close_pool()
    result["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


# -- parent: both backends, two sizes for the memory check -----------------------------------


def pg_up() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_DSN, connect_timeout=3).close()
        return True
    except Exception:
        return False


def child(backend: str, clients: int, runs: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", backend, "--clients", str(clients),
         "--runs", str(runs)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"{backend} run failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(full: dict, small: dict) -> None:
    mib = 1024 * 1024
    print(f"\n== {full['backend']}: {full['clients']} clients, {full['rows']:,} rows "
          f"(seeded in {full['seed_s']:.1f} s) ==")  # fmt: skip
    print("                wall: ours / baseline = ratio     CPU: ours / baseline = ratio")
    for fmt in ("json", "csv"):
        (ours, ours_cpu), (base, base_cpu) = full[f"{fmt}_s"], full[f"base_{fmt}_s"]
        print(f"{fmt:5} export  {ours:7.2f} s / {base:6.2f} s = {ours / base:4.2f}x   "
              f"{ours_cpu:7.2f} s / {base_cpu:6.2f} s = {ours_cpu / base_cpu:4.2f}x   "
              f"{full[f'{fmt}_bytes'] / mib:6.1f} MiB")  # fmt: skip
    wall, cpu = full["asof_s"]
    print(f"as-of view of one client ({full['asof_entries']} entries, past versions: "
          f"{full['asof_v1']}): {wall * 1000:.1f} ms wall, {cpu * 1000:.1f} ms CPU")  # fmt: skip
    print("peak traced Python memory (tracemalloc), "
          f"{small['clients']} -> {full['clients']} clients "
          f"({small['rows']:,} -> {full['rows']:,} rows):")  # fmt: skip
    for key, label in (("peak_json", "json export"), ("peak_csv", "csv export"),
                       ("peak_base_csv", "csv baseline")):  # fmt: skip
        print(f"  {label:13} {small[key] / mib:6.1f} MiB -> {full[key] / mib:6.1f} MiB")
    print(f"process max RSS (seeding included): {full['maxrss_mib']:.0f} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_backend(args.child, args.clients, args.runs)))
        return 0
    backends = ([] if args.no_sqlite else ["sqlite"]) + (
        [] if args.no_postgres or not pg_up() else ["postgres"]
    )
    if "postgres" not in backends:
        print("PostgreSQL not reachable (or --no-postgres): SQLite only")
    for backend in backends:
        small = child(backend, max(args.clients // 10, 10), 1)
        full = child(backend, args.clients, args.runs)
        report(full, small)
    return 0


if __name__ == "__main__":
    sys.exit(main())
