"""Export benchmark: our streaming packer against `openssl dgst` and bagit-python's make_bag.

Run ``python benchmarks/export.py`` (full spec, about 1 GiB) or ``--quick`` / ``--size-scale``.
The tree is generated once into ``bench-data/`` (git-ignored) from a fixed seed. The contenders run
in interleaved rounds (three by default) under the same conditions: the source tree warm in the
page cache, ``sync`` before each run, a fresh output directory each time (see ``bench_files``).
Each runs as a child process whose wall time, CPU time (user + system) and peak RSS come from
``wait4``; medians are printed. CPU time is printed because on a shared VM the wall time of the
same command varies by a factor of two or more with the neighbours' load.

Second part: 1,000,000 rows from PostgreSQL through our SQL source (JSON Lines + CSV, hashed,
durable) beside ``COPY (SELECT ...) TO STDOUT`` of the same rows read through psycopg into one
fsync'd file (the issue's baseline), and beside two COPYs producing the same two formats we do.
The issue's figure is ours with ``formats=jsonl`` (JSON Lines only, as the issue asks) over that
plain COPY. ``--skip-files`` runs the SQL part alone (no tree is generated or read).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KIB, MIB = 1024, 1024 * 1024
# (count, min size, max size, folder) — the spec's ~1 GiB tree
SPEC = [
    (1500, 1 * KIB, 64 * KIB, "petits fichiers"),
    (200, 1 * MIB, 1 * MIB, "one-meg"),
    (60, 8 * MIB, 8 * MIB, "huit Mo"),
    (8, 32 * MIB, 32 * MIB, "large"),
]
NAMES = ["rapport", "facture été", "contrat signé", "note de frais", "export", "Ünïcödé file"]
PG_DSN = os.environ.get("EXPORTERS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def generate(tree: Path, scale: float) -> tuple[int, int]:
    """Build the tree once (a marker file records the scale); returns (files, bytes)."""
    marker = tree / ".complete"
    if marker.exists():
        files = total = 0
        for path in tree.rglob("*"):
            if path.is_file() and path != marker:
                files += 1
                total += path.stat().st_size
        return files, total
    shutil.rmtree(tree, ignore_errors=True)
    rng = random.Random(8493)
    files = total = 0
    for count, low, high, folder in SPEC:
        n = max(1, round(count * scale))
        base = tree / folder
        base.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            size = rng.randint(low, high)
            name = f"{NAMES[i % len(NAMES)]} {i:04d}.bin"
            sub = base / f"lot {i // 100:02d}"
            sub.mkdir(exist_ok=True)
            (sub / name).write_bytes(rng.randbytes(size))
            files += 1
            total += size
    marker.write_text(f"scale={scale}\n")
    return files, total


# ext4 without a journal (this VM's root) skips inodes deleted in the last minutes on every file
# creation (``recently_deleted``): right after a previous run deleted its ~7,000 output files, a
# writer measured up to twice as slow. So a run waits until the last cleanup is this old.
SETTLE_SECONDS = 360


def cleaned_up(data_dir: Path) -> None:
    (data_dir / ".last-cleanup").write_text(f"{time.time()}\n")


def settle(data_dir: Path) -> None:
    try:
        last = float((data_dir / ".last-cleanup").read_text())
    except (FileNotFoundError, ValueError):
        return
    wait = SETTLE_SECONDS - (time.time() - last)
    if wait > 0:
        ago = time.time() - last
        print(f"  waiting {wait:.0f} s: the last run deleted its outputs {ago:.0f} s ago")
        time.sleep(wait)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_of(runs: int, fn, before=None) -> float:
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        times.append(timed(fn))
    return statistics.median(times)


def warm(tree: Path) -> None:
    subprocess.run(
        f"find '{tree}' -type f -print0 | xargs -0 cat > /dev/null", shell=True, check=True
    )


@dataclass
class Run:
    wall: float
    cpu: float  # user + system seconds of the process and the children it waited for
    maxrss_mib: float


def run_child(argv: list[str], **kwargs) -> Run:
    """Run one contender as a child process; its own rusage comes from ``wait4``."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, **kwargs)
    _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{argv[0]} failed with exit code {child.returncode}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def conditions() -> str:
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"load average {load}"


PEER = """
import logging, shutil, sys
import bagit
logging.getLogger("bagit").setLevel(logging.WARNING)
shutil.copytree(sys.argv[1], sys.argv[2])
bagit.make_bag(sys.argv[2], checksums=["sha256"], processes=2)
"""


def bench_files(tree: Path, work: Path, runs: int, workers: int, total: int) -> None:
    """Interleaved rounds, each contender once per round, all under the same conditions.

    Before every timed run: the source tree is read once (warm page cache for everyone), and
    ``sync`` flushes whatever the previous run left dirty, so no contender pays for another's
    writeback. Every writing run gets a new output directory and outputs are deleted only at the
    end: deleting ~1,800 files just before a run makes ext4 (without a journal, as on this VM)
    skip "recently deleted" inodes on every create for a few minutes, which measured up to a third
    of a writer's time, and no real export starts right after such a deletion.
    """
    counter = iter(range(1_000_000))
    # Outputs stay until the end (see above): four writing contenders and the disk floor a round.
    needed = 5 * runs * total
    free = shutil.disk_usage(work).free
    if free < needed * 1.1:
        gib = 2**30
        raise SystemExit(
            f"the outputs need about {needed / gib:.1f} GiB in {work}; {free / gib:.1f} GiB free"
        )

    def fresh() -> Path:
        return work / f"out-{next(counter)}"

    def ours(*extra: str) -> Run:
        return run_child(
            [sys.executable, "-m", "exporters", "pack", "--source", f"file://{tree}/#bench",
             "--out", str(fresh()), "--workers", str(workers), "--case-id", "BENCH", *extra],
            cwd=ROOT,
        )  # fmt: skip

    def openssl() -> Run:
        return run_child(
            ["sh", "-c", f"find '{tree}' -type f -print0 | xargs -0 openssl dgst -sha256"]
        )

    def disk() -> Run:
        # The disk's own floor for a durable copy: the same byte count written sequentially
        # into one file, straight from one reused buffer (O_DIRECT), then fsync'd.
        chunks = -(-total // (4 * MIB))
        out = fresh()
        out.mkdir()
        return run_child(
            ["dd", "if=/dev/zero", f"of={out / 'floor'}", "bs=4M", f"count={chunks}",
             "oflag=direct", "conv=fsync", "status=none"]
        )  # fmt: skip

    contenders = {
        "ours": lambda: ours(),
        "ours_nofsync": lambda: ours("--no-fsync"),
        "cp": lambda: run_child(["cp", "-r", str(tree), str(fresh())]),
        "disk": disk,
        "openssl": openssl,
        "peer": lambda: run_child([sys.executable, "-c", PEER, str(tree), str(fresh())]),
    }
    results: dict[str, list[Run]] = {name: [] for name in contenders}
    # As installed: pip compiles a package's bytecode at install time (bagit-python's included),
    # while this checkout may run with PYTHONDONTWRITEBYTECODE and recompile ours on every start.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "exporters")], check=True)
    print(f"  before: {conditions()}")
    for _round in range(runs):
        for name, fn in contenders.items():
            warm(tree)
            os.sync()
            results[name].append(fn())
    print(f"  after:  {conditions()}")
    print("  conditions: source warm in page cache, `sync` before each run, fresh output dirs,")
    print("  rounds interleaved; wall and CPU (user+sys) are medians of the runs")

    def wall(name: str) -> float:
        return statistics.median(r.wall for r in results[name])

    def cpu(name: str) -> float:
        return statistics.median(r.cpu for r in results[name])

    rows = [
        ("ours", f"(a) ours: exporters pack, {workers} workers (durable, default)"),
        ("ours_nofsync", "    ours with --no-fsync"),
        ("cp", "    floor: plain `cp -r` of the tree (no hash)"),
        ("disk", "    floor: the disk, same bytes (dd O_DIRECT + fsync)"),
        ("openssl", "(b) openssl dgst -sha256 (one process, no copy)"),
        ("peer", "(c) peer: copytree + bagit make_bag(p=2)"),
    ]
    print(f"  {'':56} {'wall s':>8} {'cpu s':>8}   each run's wall s")
    for name, label in rows:
        each = " ".join(f"{r.wall:.2f}" for r in results[name])
        print(f"  {label:56} {wall(name):8.2f} {cpu(name):8.2f}   {each}")
    for name in ("ours", "ours_nofsync"):
        print(
            f"  {name:13} / openssl = {wall(name) / wall('openssl'):5.2f} wall,"
            f" {cpu(name) / cpu('openssl'):5.2f} cpu   (target <= 1, wall)"
        )
        print(
            f"  peer / {name:13} = {wall('peer') / wall(name):5.2f} wall,"
            f" {cpu('peer') / cpu(name):5.2f} cpu   (target >= 2, wall)"
        )
    print(
        f"  disk floor    / openssl = {wall('disk') / wall('openssl'):5.2f} wall"
        "   (above 1: no durable copy can meet the target in this run)"
    )
    print(f"  ours          / disk floor = {wall('ours') / wall('disk'):5.2f} wall")
    peak = max(r.maxrss_mib for r in results["ours"] + results["ours_nofsync"])
    print(f"  our peak RSS   = {peak:6.1f} MiB (target < 200 MiB)")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()


def bench_sql(work: Path, rows: int, runs: int) -> None:
    try:
        import psycopg

        conn = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3)
    except Exception as exc:
        print(f"  skipped: PostgreSQL not reachable at {PG_DSN} ({str(exc).splitlines()[0]})")
        return
    from exporters import pack

    table = f"bench_rows_{os.getpid()}"
    try:
        conn.execute(
            f"CREATE TABLE {table} (id bigint PRIMARY KEY, tenant_id text NOT NULL,"
            " amount numeric(12,2), label text, created timestamptz, paid boolean)"
        )
        conn.execute(
            f"INSERT INTO {table} SELECT g, CASE WHEN g % 10 = 0 THEN 'other' ELSE 'acme' END,"
            " (g % 100000) / 100.0, 'libellé n° ' || g, timestamptz '2026-01-01' + g * interval"
            f" '1 second', g % 2 = 0 FROM generate_series(1, {rows} * 10 / 9) g"
        )
        conn.execute(f"ANALYZE {table}")
        count = conn.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = 'acme'").fetchone()
        n = count[0] if count else 0
        out = work / "sql"

        def clean() -> None:
            shutil.rmtree(out, ignore_errors=True)

        def ours() -> None:
            pack([f"{PG_DSN}?table={table}:tenant_id#bench"], str(out), client="acme")

        def ours_jsonl() -> None:
            url = f"{PG_DSN}?table={table}:tenant_id&formats=jsonl#bench"
            pack([url], str(out), client="acme")

        copy_file = work / "copy.txt"

        def copy() -> None:
            with conn.cursor() as cur, copy_file.open("wb") as handle:
                query = (
                    f"COPY (SELECT * FROM {table} WHERE tenant_id = 'acme' ORDER BY id) TO STDOUT"
                )
                with cur.copy(query) as stream:
                    for block in stream:
                        handle.write(block)
                handle.flush()
                os.fsync(handle.fileno())

        both_file = work / "copy-both"

        def copy_both() -> None:
            # The same two outputs as ours, each by one COPY: JSON Lines and CSV with a header.
            inner = f"SELECT * FROM {table} WHERE tenant_id = 'acme' ORDER BY id"
            queries = [
                f"COPY (SELECT row_to_json(t) FROM ({inner}) t) TO STDOUT",
                f"COPY ({inner}) TO STDOUT (FORMAT csv, HEADER)",
            ]
            for i, query in enumerate(queries):
                with conn.cursor() as cur, open(f"{both_file}.{i}", "wb") as handle:
                    with cur.copy(query) as stream:
                        for block in stream:
                            handle.write(block)
                    handle.flush()
                    os.fsync(handle.fileno())

        t_ours, t_jsonl, t_copy, t_both = [], [], [], []
        print(f"  before: {conditions()}")
        for _round in range(runs):  # interleaved, like the file benchmark
            clean()
            t_ours.append(timed(ours))
            clean()
            t_jsonl.append(timed(ours_jsonl))
            t_copy.append(timed(copy))
            t_both.append(timed(copy_both))
        print(f"  after:  {conditions()}")
        clean()
        copy_file.unlink(missing_ok=True)
        for i in range(2):
            Path(f"{both_file}.{i}").unlink(missing_ok=True)
        t_ours, t_jsonl, t_copy, t_both = (
            statistics.median(t) for t in (t_ours, t_jsonl, t_copy, t_both)
        )
        print(f"  rows exported: {n} (wall times, medians of {runs} interleaved rounds)")
        print(
            f"  ours: SQL source -> JSONL + CSV, hashed {t_ours:7.2f} s ({n / t_ours:,.0f} rows/s)"
        )
        print(f"  ours: formats=jsonl (COPY), hashed {t_jsonl:12.2f} s ({n / t_jsonl:,.0f} rows/s)")
        print(
            f"  COPY (SELECT ...) TO STDOUT via psycopg {t_copy:7.2f} s ({n / t_copy:,.0f} rows/s)"
        )
        print(
            f"  COPY twice: JSON Lines + CSV (the same two outputs) {t_both:7.2f} s"
            f" ({n / t_both:,.0f} rows/s)"
        )
        print(
            f"  ours formats=jsonl / COPY = {t_jsonl / t_copy:5.2f}   (the issue's figure,"
            " target <= 3; both write one file)"
        )
        print(f"  ours JSONL + CSV / COPY = {t_ours / t_copy:5.2f}   (two files against one)")
        print(f"  ours JSONL + CSV / COPY twice = {t_ours / t_both:5.2f}   (same outputs as ours)")
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-scale", type=float, default=1.0, help="fraction of the spec tree")
    parser.add_argument("--quick", action="store_true", help="same as --size-scale 0.05")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows", type=int, default=None, help="SQL rows (default 1e6 × scale)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "bench-data")
    parser.add_argument("--skip-sql", action="store_true")
    parser.add_argument(
        "--skip-files", action="store_true", help="SQL part only: no tree generated or read"
    )
    args = parser.parse_args()
    scale = 0.05 if args.quick else args.size_scale
    rows = args.rows or max(1000, int(1_000_000 * scale))
    tree = args.data_dir / f"tree-{scale:g}"
    if not args.skip_files:
        started = time.perf_counter()
        files, total = generate(tree, scale)
        ready = time.perf_counter() - started
        print(f"tree: {tree} — {files} files, {total / MIB:.0f} MiB (ready in {ready:.1f} s)")
    print(f"cpus: {os.cpu_count()}, runs: {args.runs} (medians)")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="exporters-bench-", dir=args.data_dir))
    try:
        if not args.skip_files:
            print("files:")
            settle(args.data_dir)
            bench_files(tree, work, args.runs, args.workers, total)
        if not args.skip_sql:
            print("sql:")
            bench_sql(work, rows, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        cleaned_up(args.data_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
