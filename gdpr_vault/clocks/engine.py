"""The single entry point, :func:`compute_deadline`: event instant + duration + calendar → due.

Pure: no database, no network, never reads the wall clock (``now`` is always an argument of the
result's helpers). Inputs are validated here; the arithmetic lives in :mod:`rules` and
:mod:`calendars`. The hot path avoids re-parsing and re-building anything: zones, calendars and
windows are cached by their text.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo

from .calendars import Calendar, ClosingDaysInput, get_calendar
from .deadline import Deadline
from .durations import Duration, DurationUnit, parse_duration
from .errors import ClockError, DeadlineOutOfRangeError, MissingBusinessHoursError
from .rules import _DAY_ENDS, add_months, end_of_local_day, local_to_utc, walk_business_hours
from .windows import BusinessHours, parse_windows
from .zones import _ZONES, get_zone, require_aware

__all__ = ["compute_deadline", "default_extension"]

Party = Literal["client", "processor"]

_HOURS = DurationUnit.HOURS
_DAYS = DurationUnit.CALENDAR_DAYS
_BUSINESS_DAYS = DurationUnit.BUSINESS_DAYS
_WORKING_DAYS = DurationUnit.WORKING_DAYS
_BUSINESS_HOURS = DurationUnit.BUSINESS_HOURS
_MONTHS = DurationUnit.MONTHS

# tzinfo classes whose utcoffset() is never None: skip that check on the hot path
_ALWAYS_AWARE = frozenset({ZoneInfo, timezone})
_HOURS_DELTAS = {n: timedelta(hours=n) for n in range(1, 1001)}
_CALENDAR_BY_TEXT: dict[str, Calendar] = {}
_MONTH_ENDS: dict[tuple[int, int], int] = {}  # (event ordinal, months) -> last day ordinal
_WINDOWS_BY_TEXT: dict[str, BusinessHours] = {}


def default_extension(party: Party) -> bool:
    """Default for art. 642 extension (DOMAIN.md, "Clocks and calendars").

    ``True`` for periods granted to the **client** to act (objection window, integrity-check
    window): the client keeps a full last working day. ``False`` for the **processor**'s own
    obligations (breach notice, export, deletion): the protective reading for the client.
    """
    if party == "client":
        return True
    if party == "processor":
        return False
    raise ValueError(f"party must be 'client' or 'processor', got {party!r}")


def _calendar(calendar: str | Calendar, closing_days: ClosingDaysInput | None) -> Calendar:
    if closing_days:
        return get_calendar(calendar, closing_days)
    if isinstance(calendar, Calendar):
        return calendar
    found = _CALENDAR_BY_TEXT.get(calendar)
    if found is None:
        found = _CALENDAR_BY_TEXT[calendar] = get_calendar(calendar)
    return found


def _month_end(event_ord: int, months: int) -> int:
    if len(_MONTH_ENDS) >= 100_000:
        _MONTH_ENDS.clear()
    found = add_months(date.fromordinal(event_ord), months).toordinal()
    _MONTH_ENDS[event_ord, months] = found
    return found


def _windows(business_hours: str | BusinessHours | None) -> BusinessHours:
    if business_hours is None:
        raise MissingBusinessHoursError(
            "a business-hours duration needs business-hours windows "
            "(business_hours= / --business-hours), e.g. '09:00-12:00,14:00-18:00'"
        )
    if isinstance(business_hours, BusinessHours):
        return business_hours
    found = _WINDOWS_BY_TEXT.get(business_hours)
    if found is None:
        found = _WINDOWS_BY_TEXT[business_hours] = parse_windows(business_hours)
    return found


def compute_deadline(
    start: datetime,
    duration: Duration | str,
    *,
    tz: str = "Europe/Paris",
    calendar: str | Calendar = "FR",
    business_hours: str | BusinessHours | None = None,
    extend: bool = False,
    closing_days: ClosingDaysInput | None = (),
    clause: str | None = None,
) -> Deadline:
    """Compute when a contractual period that starts at the event ``start`` ends.

    ``start`` must be timezone-aware (:class:`NaiveDatetimeError` otherwise); days and hours are
    counted in the contract's zone ``tz``. ``duration`` is a :class:`Duration` or text for
    :func:`parse_duration`. ``calendar`` is ``FR``/``FR-57``/``FR-67``/``FR-68`` or a
    :class:`Calendar`; ``closing_days`` adds contract closing days. ``business_hours`` (windows
    such as ``"09:00-12:00,14:00-18:00"``) is required for business-hour durations. ``extend``
    applies art. 642: an end on a Saturday, Sunday, public holiday or closing day moves to
    24:00 on the next working day (see :func:`default_extension`). ``clause`` is cited in the
    explanation.
    """
    tzinfo = start.tzinfo if isinstance(start, datetime) else None
    if tzinfo is None or (type(tzinfo) not in _ALWAYS_AWARE and tzinfo.utcoffset(start) is None):
        require_aware(start)  # raises the right error
    zone = _ZONES.get(tz) or get_zone(tz)
    cal = None if closing_days else _CALENDAR_BY_TEXT.get(calendar)  # type: ignore[call-overload]
    if cal is None:
        cal = _calendar(calendar, closing_days)
    if not isinstance(duration, Duration):
        duration = parse_duration(duration)
    unit, amount = duration.unit, duration.amount
    windows: BusinessHours | None = None
    if business_hours is not None or unit is _BUSINESS_HOURS:
        windows = _windows(business_hours)
    try:
        if unit is _HOURS:
            due = start.astimezone(UTC) + (_HOURS_DELTAS.get(amount) or timedelta(hours=amount))
            nominal, end_of_day = due, False
            if extend:
                ordinal = due.astimezone(zone).toordinal()
                moved = cal.add_open_days(ordinal - 1, 1, 5)
                if moved != ordinal:
                    due, end_of_day = end_of_local_day(moved, zone), True
        elif unit is _BUSINESS_HOURS:
            local = start.astimezone(zone)
            time_us = ((local.hour * 60 + local.minute) * 60 + local.second) * 1_000_000
            ordinal, time_us = walk_business_hours(
                local.toordinal(),
                time_us + local.microsecond,
                amount * 3_600_000_000,
                windows,  # type: ignore[arg-type]
                cal,
            )
            # the result is always on a business day: art. 642 extension never moves it
            due = nominal = local_to_utc(ordinal, time_us, zone)
            end_of_day = False
        else:
            event_ord = start.astimezone(zone).toordinal()
            if unit is _DAYS:
                ordinal = event_ord + amount
            elif unit is _BUSINESS_DAYS:
                ordinal = cal.add_open_days(event_ord, amount, 5)
            elif unit is _WORKING_DAYS:
                ordinal = cal.add_open_days(event_ord, amount, 6)
            else:  # months
                ordinal = _MONTH_ENDS.get((event_ord, amount)) or _month_end(event_ord, amount)
            ends = _DAY_ENDS.get(zone)
            due = ends.get(ordinal) if ends else None
            if due is None:
                due = end_of_local_day(ordinal, zone)
            nominal = due
            end_of_day = True
            if extend:
                moved = cal.add_open_days(ordinal - 1, 1, 5)
                if moved != ordinal:
                    due = end_of_local_day(moved, zone)
    except ClockError:
        raise
    except (OverflowError, ValueError) as exc:
        raise DeadlineOutOfRangeError(
            f"{duration} after {start.isoformat()} falls outside the supported dates ({exc})"
        ) from exc
    return Deadline(start, duration, zone, cal, due, end_of_day, extend, nominal, windows, clause)
