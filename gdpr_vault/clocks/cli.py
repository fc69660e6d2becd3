"""``gdpr-vault deadline START DURATION [options]``: compute one deadline, print JSON.

Wired by the lead as the ``deadline`` sub-command (``main(argv_after_the_word_deadline)``) and
runnable as ``python -m gdpr_vault.clocks``. Bad input exits with status 2 and a single line on
stderr (no traceback, no multi-line argparse usage), so scripts can show it as is.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from typing import NoReturn

from .calendars import CALENDAR_SPECS, ClosingDay
from .engine import compute_deadline, default_extension
from .errors import ClockError, InvalidClosingDaysError
from .zones import require_aware

__all__ = ["main"]

PROG = "gdpr-vault deadline"


class _UsageError(Exception):
    """argparse's complaint, turned into our one-line error."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Compute a contractual deadline and print it as JSON.",
        epilog='Example: gdpr-vault deadline 2026-03-28T22:30:00+01:00 "48 hours"',
    )
    parser.add_argument("start", metavar="START", help="event instant, ISO 8601 with an offset")
    parser.add_argument(
        "duration",
        metavar="DURATION",
        nargs="+",
        help="e.g. '48 hours', '30 jours', '10 jours ouvrés', '48 heures ouvrées', '1 mois', P30D",
    )
    parser.add_argument("--tz", default="Europe/Paris", help="contract time zone (IANA name)")
    parser.add_argument(
        "--calendar", default="FR", help=f"holiday calendar: {', '.join(CALENDAR_SPECS)}"
    )
    parser.add_argument("--business-hours", metavar="WINDOWS", help="e.g. 09:00-12:00,14:00-18:00")
    extension = parser.add_mutually_exclusive_group()
    extension.add_argument(
        "--extend", dest="extend", action="store_true", default=None, help="apply art. 642"
    )
    extension.add_argument("--no-extend", dest="extend", action="store_false")
    parser.add_argument(
        "--party",
        choices=("client", "processor"),
        default="processor",
        help="whose period it is; sets the extension default (client: on, processor: off)",
    )
    parser.add_argument(
        "--closing-day",
        metavar="DATE[=LABEL]",
        action="append",
        default=[],
        help="contract closing day, repeatable, e.g. 2026-05-15=Bridge day",
    )
    parser.add_argument("--clause", metavar="TEXT", help="clause cited in the explanation")
    return parser


def _parse_start(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _UsageError(
            f"START {text!r} is not an ISO 8601 instant, e.g. 2026-03-28T22:30:00+01:00"
        ) from exc
    return require_aware(value, "START")


def _parse_closing_day(text: str) -> ClosingDay:
    day_text, _, label = text.partition("=")
    try:
        day = date.fromisoformat(day_text.strip())
    except ValueError as exc:
        raise InvalidClosingDaysError(
            f"closing day {text!r} must be YYYY-MM-DD or YYYY-MM-DD=LABEL"
        ) from exc
    return ClosingDay(day, label.strip() or "closing day")


def main(argv: list[str] | None = None) -> int:
    """Run the command; return the exit status (0 ok, 2 bad input)."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        start = _parse_start(args.start)
        extend = default_extension(args.party) if args.extend is None else args.extend
        deadline = compute_deadline(
            start,
            " ".join(args.duration),
            tz=args.tz,
            calendar=args.calendar,
            business_hours=args.business_hours,
            extend=extend,
            closing_days=[_parse_closing_day(c) for c in args.closing_day],
            clause=args.clause,
        )
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except (_UsageError, ClockError) as exc:
        message = " ".join(str(exc).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    print(json.dumps(deadline.to_dict(), ensure_ascii=False, indent=2))
    return 0
