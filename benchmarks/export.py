"""Export benchmark: our streaming packer against `openssl dgst` and bagit-python's make_bag.

Run ``python benchmarks/export.py`` (full spec, about 1 GiB) or ``--quick`` / ``--size-scale``.
The tree is generated once into ``bench-data/`` (git-ignored) from a fixed seed. All three
contenders run on a warm page cache, three times each; medians are printed. Our pack runs in a
subprocess so its peak RSS can be read from ``getrusage(RUSAGE_CHILDREN)``; it runs before any
other child process so that maximum is ours alone.

Second part: 1,000,000 rows from PostgreSQL through our SQL source (JSON Lines + CSV, hashed,
fsync'd) beside ``COPY (SELECT ...) TO STDOUT`` of the same rows read through psycopg into a file.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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


def bench_files(tree: Path, work: Path, runs: int, workers: int) -> None:
    ours_out = work / "ours"

    def clean_ours() -> None:
        shutil.rmtree(ours_out, ignore_errors=True)

    def ours(*extra: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "exporters", "pack", "--source", f"file://{tree}/#bench",
             "--out", str(ours_out), "--workers", str(workers), "--case-id", "BENCH", *extra],
            check=True, stdout=subprocess.DEVNULL, cwd=ROOT,
        )  # fmt: skip

    def openssl() -> None:
        subprocess.run(
            f"find '{tree}' -type f -print0 | xargs -0 openssl dgst -sha256 > /dev/null",
            shell=True,
            check=True,
        )

    peer_out = work / "peer"

    def clean_peer() -> None:
        shutil.rmtree(peer_out, ignore_errors=True)

    def peer() -> None:
        import bagit

        shutil.copytree(tree, peer_out)
        bagit.make_bag(str(peer_out), checksums=["sha256"], processes=2)

    import logging

    logging.getLogger("bagit").setLevel(logging.WARNING)
    warm(tree)
    t_ours = median_of(runs, ours, clean_ours)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    t_nofsync = median_of(runs, lambda: ours("--no-fsync"), clean_ours)
    clean_ours()
    t_cp = median_of(
        runs, lambda: subprocess.run(["cp", "-r", str(tree), str(ours_out)], check=True), clean_ours
    )
    clean_ours()
    t_openssl = median_of(runs, openssl)
    t_peer = median_of(runs, peer, clean_peer)
    clean_peer()
    print(
        f"  (a) ours: exporters pack, {workers} workers   {t_ours:8.2f} s  (fsync'd, the default)"
    )
    print(f"      ours with --no-fsync                    {t_nofsync:8.2f} s")
    print(f"      floor: plain `cp -r` of the tree        {t_cp:8.2f} s  (no hashing)")
    print(f"  (b) openssl dgst -sha256 (one process)      {t_openssl:8.2f} s")
    print(f"  (c) peer: copytree + bagit make_bag(p=2)    {t_peer:8.2f} s")
    ratio = t_nofsync / t_openssl
    print(f"  ours / openssl = {t_ours / t_openssl:5.2f}   (target <= 1; no-fsync {ratio:.2f})")
    peer_ratio = t_peer / t_nofsync
    print(f"  peer / ours    = {t_peer / t_ours:5.2f}   (target >= 2; --no-fsync {peer_ratio:.2f})")
    print(f"  our peak RSS   = {peak_mib:6.1f} MiB (target < 200 MiB)")


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

        t_ours = median_of(runs, ours, clean)
        clean()
        t_copy = median_of(runs, copy)
        copy_file.unlink(missing_ok=True)
        print(f"  rows exported: {n}")
        print(
            f"  ours: SQL source -> JSONL + CSV, hashed {t_ours:7.2f} s ({n / t_ours:,.0f} rows/s)"
        )
        print(
            f"  COPY (SELECT ...) TO STDOUT via psycopg {t_copy:7.2f} s ({n / t_copy:,.0f} rows/s)"
        )
        print(f"  ours / COPY = {t_ours / t_copy:5.2f}   (target <= 3)")
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
    args = parser.parse_args()
    scale = 0.05 if args.quick else args.size_scale
    rows = args.rows or max(1000, int(1_000_000 * scale))
    tree = args.data_dir / f"tree-{scale:g}"
    started = time.perf_counter()
    files, total = generate(tree, scale)
    ready = time.perf_counter() - started
    print(f"tree: {tree} — {files} files, {total / MIB:.0f} MiB (ready in {ready:.1f} s)")
    print(f"cpus: {os.cpu_count()}, runs: {args.runs} (medians)")
    work = Path(tempfile.mkdtemp(prefix="exporters-bench-", dir=args.data_dir))
    try:
        print("files:")
        bench_files(tree, work, args.runs, args.workers)
        if not args.skip_sql:
            print("sql:")
            bench_sql(work, rows, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
