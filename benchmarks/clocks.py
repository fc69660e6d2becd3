"""Benchmark of the deadline engine (``make bench``; ``--n`` for a quicker run).

Prints (best of ``--repeats`` runs each): N plain ``datetime + timedelta`` additions (the
floor for any deadline arithmetic in Python), N mixed contract deadlines computed by
``compute_deadline``, and their ratio (target: within 30x); then 10,000 business-day deadlines
of 10 days vs 2,000 days (about equal: cost does not grow with the length of the period); then
the cost of each kind of clock.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gdpr_vault.clocks import Duration, DurationUnit, compute_deadline, get_calendar

U = DurationUnit

# (duration, business hours windows, extend, calendar, zone): a realistic mix of contract clocks
MIX = [
    (Duration(48, U.HOURS), None, False, "FR", "Europe/Paris"),  # seed 000 breach
    (Duration(72, U.HOURS), None, False, "FR", "Europe/Paris"),  # seed 004 breach
    (Duration(30, U.CALENDAR_DAYS), None, False, "FR", "Europe/Paris"),  # seed 000 export
    (Duration(60, U.CALENDAR_DAYS), None, False, "FR", "Europe/Paris"),  # seed 001 export
    (Duration(1, U.MONTHS), None, True, "FR", "Europe/Paris"),  # seed 004 objection
    (Duration(2, U.MONTHS), None, False, "FR-57", "Europe/Paris"),
    (Duration(10, U.BUSINESS_DAYS), None, True, "FR", "Europe/Paris"),  # seed 004 integrity
    (Duration(250, U.BUSINESS_DAYS), None, False, "FR-67", "Europe/Paris"),
    (Duration(6, U.WORKING_DAYS), None, True, "FR", "Europe/Paris"),
    (Duration(48, U.BUSINESS_HOURS), "09:00-12:00,14:00-18:00", False, "FR", "Europe/Paris"),
    (Duration(4, U.BUSINESS_HOURS), "08:30-12:00,14:00-18:00", False, "FR", "Europe/Paris"),
    (Duration(30, U.BUSINESS_HOURS), "09:00-18:00", False, "FR", "Europe/Paris"),
]


def _starts(n: int, seed: int = 7) -> list[datetime]:
    rng = random.Random(seed)
    paris = ZoneInfo("Europe/Paris")
    base = datetime(2020, 1, 1, tzinfo=paris)
    span = 16 * 365 * 24 * 3600
    return [base + timedelta(seconds=rng.randrange(span)) for _ in range(n)]


def bench_baseline(starts: list[datetime]) -> float:
    delta = timedelta(hours=48)
    began = time.perf_counter()
    for start in starts:
        start + delta
    return time.perf_counter() - began


def bench_mixed(starts: list[datetime]) -> float:
    mix = MIX
    size = len(mix)
    began = time.perf_counter()
    for i, start in enumerate(starts):
        duration, windows, extend, calendar, zone = mix[i % size]
        compute_deadline(
            start, duration, tz=zone, calendar=calendar, business_hours=windows, extend=extend
        )
    return time.perf_counter() - began


def bench_business_days(starts: list[datetime], days: int) -> float:
    duration = Duration(days, U.BUSINESS_DAYS)
    began = time.perf_counter()
    for start in starts:
        compute_deadline(start, duration)
    return time.perf_counter() - began


def best_of(repeats: int, run: object, *args: object) -> float:
    """Fastest of ``repeats`` runs: the usual way to filter out noise from other processes."""
    return min(run(*args) for _ in range(repeats))  # type: ignore[operator]


def bench_kind(starts: list[datetime], clock: tuple) -> float:
    duration, windows, extend, calendar, zone = clock
    began = time.perf_counter()
    for start in starts:
        compute_deadline(
            start, duration, tz=zone, calendar=calendar, business_hours=windows, extend=extend
        )
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="deadlines in the mixed run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (best is kept)")
    args = parser.parse_args()
    n, repeats = args.n, args.repeats
    starts = _starts(n)
    for spec in ("FR", "FR-57", "FR-67"):  # warm the holiday caches, as a server would
        get_calendar(spec).add_business_days(starts[0].date(), 3000)
    bench_mixed(starts[: len(MIX) * 10])

    small = starts[: min(10_000, n)]
    bench_business_days(small, 2_000)  # warm the end-of-day caches for both runs
    baseline = best_of(repeats, bench_baseline, starts)
    mixed = best_of(repeats, bench_mixed, starts)
    short = best_of(repeats, bench_business_days, small, 10)
    long = best_of(repeats, bench_business_days, small, 2_000)
    kinds = [(clock, best_of(repeats, bench_kind, small, clock)) for clock in MIX]

    rows = [
        (f"{n:,} x datetime + timedelta (baseline)", baseline, 1.0),
        (f"{n:,} x compute_deadline, mixed clocks", mixed, mixed / baseline),
    ]
    print(f"{'run':<50} {'seconds':>9} {'per op':>10} {'x baseline':>11}")
    for label, seconds, ratio in rows:
        print(f"{label:<50} {seconds:9.3f} {seconds / n * 1e6:8.2f}µs {ratio:10.1f}x")
    print(f"target: mixed within 30x of baseline -> {'OK' if mixed / baseline <= 30 else 'MISSED'}")
    print()
    print(f"{'business-day deadlines':<50} {'seconds':>9} {'per op':>10}")
    for label, seconds in (
        (f"{len(small):,} x 10 business days", short),
        (f"{len(small):,} x 2,000 business days", long),
    ):
        print(f"{label:<50} {seconds:9.3f} {seconds / len(small) * 1e6:8.2f}µs")
    print(f"ratio 2,000 days / 10 days: {long / short:.2f} (about 1 = cost independent of length)")
    print()
    title = f"per clock kind ({len(small):,} each)"
    print(f"{title:<50} {'per op':>10} {'x base':>8}")
    base_op = baseline / n
    for (duration, windows, extend, calendar, _zone), seconds in kinds:
        label = f"{duration}" + (f" [{windows}]" if windows else "") + (" +ext" if extend else "")
        label += f" {calendar}"
        per_op = seconds / len(small)
        print(f"{label:<50} {per_op * 1e6:8.2f}µs {per_op / base_op:7.1f}x")


if __name__ == "__main__":
    main()
