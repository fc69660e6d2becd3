"""Benchmark of the evidence bundle: ``python -m benchmarks.bundle [--events N]``.

In a temporary SQLite database: one opensafe client with a full register (activities with
security measures and histories) and ``--events`` trail events (default 200,000). Prints:

* the time to build and stream its evidence bundle (database reads, JSON, compression,
  SHA-256 of every file, signature), end to end;
* the time Python's ``zipfile`` takes to zip the very same file contents, in the same run,
  at the same compression level (the floor for any zip of these bytes) and the ratio
  (target: within 2x);
* the peak of Python allocations while streaming the bundle (``tracemalloc``, a second run)
  next to the bundle's size: memory stays flat because entries are streamed and the trail is
  spooled to disk past 8 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import tempfile
import time
import tracemalloc
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ACTIVITIES = 25


def _configure(var_dir: Path) -> None:
    os.environ["VAR_DIR"] = str(var_dir)
    os.environ["DATABASE_URL"] = f"sqlite:///{var_dir / 'bench.sqlite3'}"
    os.environ["DEMO"] = "0"
    from gdpr_vault.settings import Settings, set_settings

    set_settings(Settings.from_env())


async def _seed(events: int, now: datetime) -> str:
    from gdpr_vault import db
    from gdpr_vault.contracts.schemas import ClientIn, ContactIn, ContractIn
    from gdpr_vault.contracts.service import create_client
    from gdpr_vault.evidence import trail
    from gdpr_vault.evidence.tables import TrailEvent
    from gdpr_vault.evidence.verify import EVENT_FIELDS
    from gdpr_vault.ids import new_id
    from gdpr_vault.registers import service as registers
    from gdpr_vault.registers.schemas import ActivityIn
    from gdpr_vault.timeutil import utc_iso

    client = await create_client(
        ClientIn(
            legal_name="Clinique Benchmark SAS",
            contacts=[ContactIn(name="DPO", email="dpo@bench.example")],
            contract=ContractIn(
                reference="BENCH-1", preset="opensafe", start_date=date(2026, 1, 1)
            ),
        ),
        "dpo:bench",
        now,
    )
    client_id = client["id"]
    for index in range(ACTIVITIES):
        await registers.create_activity(
            ActivityIn(
                reference=f"ACT-{index:03d}",
                name=f"Traitement {index}",
                reason="benchmark register",
                description="Gestion des dossiers " * 5,
                purposes=["gestion des équipements", "traçabilité"],
                data_categories=["identité", "coordonnées professionnelles"],
                security_measures=["chiffrement au repos", "MFA", "journalisation", "sauvegardes"],
                security_testing="tests d'intrusion annuels",
                client_ids=[client_id],
            ),
            "dpo:bench",
            now,
        )
    last = await TrailEvent.select().order_by(TrailEvent.seq, ascending=False).first()
    prev, seq = last["hash"], last["seq"]
    batch = 5000
    for start in range(0, events, batch):
        rows = []
        async with db.transaction():
            for offset in range(min(batch, events - start)):
                seq += 1
                at = now + timedelta(seconds=seq)
                row = {
                    "seq": seq,
                    "event_id": new_id("evt"),
                    "occurred_at": at,
                    "actor": "dpo:tok_bench",
                    "action": "register.updated",
                    "client_id": client_id,
                    "subject_type": "activity",
                    "subject_id": f"act_{offset:026d}",
                    "before_digest": "a" * 64,
                    "after_digest": "b" * 64,
                    "details_json": trail.canonical_json({"reason": "benchmark", "n": seq}),
                    "prev_hash": prev,
                }
                fields = {name: row[name] for name in EVENT_FIELDS}
                fields["occurred_at"] = utc_iso(at)
                row["hash"] = prev = trail.event_hash(prev, fields)
                rows.append(TrailEvent(**row))
            await TrailEvent.insert(*rows)
    return client_id


async def _bundle(client_id: str, now: datetime, out: Path) -> float:
    from gdpr_vault.audits import bundle

    began = time.perf_counter()
    plan = await bundle.prepare(client_id, bundle.period_of(None, None, None, now), "bench", now)
    with out.open("wb") as handle:
        async for chunk in bundle.stream(plan):
            handle.write(chunk)
    return time.perf_counter() - began


def _zip_same_bytes(source: Path, work: Path) -> float:
    """Extract the bundle's files, then time zipfile on exactly those bytes."""
    extracted = work / "extracted"
    with zipfile.ZipFile(source) as archive:
        names = archive.namelist()
        archive.extractall(extracted)
    began = time.perf_counter()
    with zipfile.ZipFile(
        work / "plain.zip", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6
    ) as plain:
        for name in names:
            plain.write(extracted / name, arcname=name)
    elapsed = time.perf_counter() - began
    shutil.rmtree(extracted)
    return elapsed


async def main(events: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="gdpr-vault-bundle-bench-"))
    try:
        _configure(work)
        from gdpr_vault.migrate import migrate

        await migrate()
        now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        began = time.perf_counter()
        client_id = await _seed(events, now)
        print(
            f"seeded {events:,} trail events and {ACTIVITIES} activities in "
            f"{time.perf_counter() - began:.1f}s"
        )
        later = now + timedelta(seconds=events + 10)

        out = work / "bundle.zip"
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        bundle_s = await _bundle(client_id, later, out)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        size = out.stat().st_size
        zip_s = _zip_same_bytes(out, work)
        with zipfile.ZipFile(out) as archive:
            raw = sum(i.file_size for i in archive.infolist())

        tracemalloc.start()
        await _bundle(client_id, later + timedelta(seconds=1), work / "bundle2.zip")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        from gdpr_vault.evidence.verify import verify_path

        checked = time.perf_counter()
        report = verify_path(out)
        verify_s = time.perf_counter() - checked

        print(f"bundle: {size / 1e6:.1f} MB zipped, {raw / 1e6:.1f} MB of files")
        print(f"evidence bundle (end to end)      {bundle_s:8.2f} s")
        print(f"zipfile on the same bytes         {zip_s:8.2f} s")
        print(f"ratio                             {bundle_s / zip_s:8.2f} x  (target <= 2x)")
        print(f"peak Python allocations (stream)  {peak / 1e6:8.1f} MB")
        print(
            f"process max RSS before/after      {rss_before / 1e3:.0f} / {rss_after / 1e3:.0f} MB"
        )
        print(f"offline verification              {verify_s:8.2f} s  ok={report['ok']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().events))
