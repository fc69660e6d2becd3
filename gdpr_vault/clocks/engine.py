"""The single entry point, :func:`compute_deadline`: event instant + duration + calendar → due.

Pure: no database, no network, never reads the wall clock (``now`` is always an argument of the
result's helpers). Inputs are validated here; the arithmetic lives in :mod:`rules` and
:mod:`calendars`.

Speed: the hot path re-parses and re-builds nothing. The arguments that describe a clock
(duration, zone, calendar, windows, extension) are validated once and kept as a *plan*, found
again with one dict look-up; a day-based clock's end depends only on the event's local day, so
each plan remembers its results by day (bounded); hour clocks convert to UTC with cached local
midnights instead of ``astimezone`` (see :func:`rules.local_day`); the result is built without
going through ``Deadline.__init__``. ``tests/clocks/test_fast_paths.py`` checks every shortcut
against the plain computation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo

from .calendars import Calendar, ClosingDaysInput, get_calendar
from .deadline import Deadline
from .durations import Duration, DurationUnit, parse_duration
from .errors import ClockError, DeadlineOutOfRangeError, MissingBusinessHoursError
from .rules import (
    _LOCAL_DAYS,
    MINUTE_DELTAS,
    add_months,
    end_of_local_day,
    local_day,
    local_to_utc,
)
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

# what a plan computes: the end of a local day, elapsed hours, or business hours
_KIND_DAYS, _KIND_HOURS, _KIND_BUSINESS_HOURS = 0, 1, 2

# tzinfo classes whose utcoffset() is never None: skip that check on the hot path
_ALWAYS_AWARE = frozenset({ZoneInfo, timezone})
_CALENDAR_BY_TEXT: dict[str, Calendar] = {}
_MONTH_ENDS: dict[tuple[int, int], int] = {}  # (event ordinal, months) -> last day ordinal
_WINDOWS_BY_TEXT: dict[str, BusinessHours] = {}
_MINUTE_DELTAS = MINUTE_DELTAS
_SUB_MINUTE_DELTAS: dict[int, timedelta] = {}  # microseconds (< 1 minute) -> timedelta
_new_object = object.__new__

# (id(duration), tz, calendar, business_hours, extend) -> plan; see _plan. Keyed by the
# duration's id because hashing a Duration runs Python code; the plan holds the duration, so
# that id cannot be re-used by another object while the entry exists.
_PLANS: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_PLAN_LIMIT = 4_096
_MEMO_LIMIT = 50_000  # day results remembered per plan before that memo is simply cleared


def _sub_minute(microseconds: int) -> timedelta:
    if len(_SUB_MINUTE_DELTAS) >= 100_000:
        _SUB_MINUTE_DELTAS.clear()
    found = _SUB_MINUTE_DELTAS[microseconds] = timedelta(microseconds=microseconds)
    return found


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


def _plan(
    duration: Duration | str,
    tz: str,
    calendar: str | Calendar,
    business_hours: str | BusinessHours | None,
    extend: bool,
    closing_days: ClosingDaysInput | None,
) -> tuple[Any, ...]:
    """Validate the clock's arguments (in the documented order: zone, calendar, duration,
    windows) and return its plan ``(duration, kind, zone, calendar, windows, amount, extra,
    memo, duration as given)``; remembered in :data:`_PLANS` when the arguments are plain
    values (text, bool)."""
    zone = _ZONES.get(tz) or get_zone(tz)
    cal = _calendar(calendar, closing_days)
    parsed = duration if isinstance(duration, Duration) else parse_duration(duration)
    unit, amount = parsed.unit, parsed.amount
    windows: BusinessHours | None = None
    if business_hours is not None or unit is _BUSINESS_HOURS:
        windows = _windows(business_hours)
    extra: Any = None
    if unit is _HOURS:
        kind, extra = _KIND_HOURS, timedelta(hours=amount)
    elif unit is _BUSINESS_HOURS:
        kind, extra = _KIND_BUSINESS_HOURS, amount * 3_600_000_000
    else:
        kind = _KIND_DAYS
    # the plan ends with the duration as given (text or Duration): that keeps its id, part
    # of the key, from being re-used by another object while the plan is remembered
    plan = (parsed, kind, zone, cal, windows, amount, extra, {}, duration)
    if (
        not closing_days
        and type(tz) is str
        and type(calendar) is str
        and (business_hours is None or type(business_hours) is str)
        and type(extend) is bool
    ):
        if len(_PLANS) >= _PLAN_LIMIT:
            _PLANS.clear()
        _PLANS[id(duration), tz, calendar, business_hours, extend] = plan
    return plan


def _day_due(plan: tuple[Any, ...], event_ord: int, extend: bool) -> tuple[datetime, datetime]:
    """``(due, nominal due)`` of a day-based clock for an event on local day ``event_ord``."""
    duration, _kind, zone, cal, _windows, amount, _extra, memo, _given = plan
    unit = duration.unit
    if unit is _DAYS:
        ordinal = event_ord + amount
    elif unit is _BUSINESS_DAYS:
        ordinal = cal.add_open_days(event_ord, amount, 5)
    elif unit is _WORKING_DAYS:
        ordinal = cal.add_open_days(event_ord, amount, 6)
    else:  # months
        ordinal = _MONTH_ENDS.get((event_ord, amount)) or _month_end(event_ord, amount)
    due = nominal = end_of_local_day(ordinal, zone)
    if extend:
        moved = cal.add_open_days(ordinal - 1, 1, 5)
        if moved != ordinal:
            due = end_of_local_day(moved, zone)
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    found = memo[event_ord] = (due, nominal)
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
    # ZoneInfo and timezone always give an offset: only other tzinfo classes need asking
    known_tz = type(tzinfo) in _ALWAYS_AWARE
    if not known_tz and (tzinfo is None or tzinfo.utcoffset(start) is None):
        require_aware(start)  # raises the right error
    plan = None
    if not closing_days:
        try:
            plan = _PLANS.get((id(duration), tz, calendar, business_hours, extend))
        except TypeError:  # an unhashable argument: _plan refuses it with the right error
            plan = None
    if plan is None:
        plan = _plan(duration, tz, calendar, business_hours, extend, closing_days)
    duration, kind, zone, cal, windows, _amount, extra, memo, _given = plan
    try:
        if kind == _KIND_DAYS:  # the end depends only on the event's local day
            event_ord = (start if tzinfo is zone else start.astimezone(zone)).toordinal()
            found = memo.get(event_ord)
            if found is None:
                found = _day_due(plan, event_ord, extend)
            due, nominal = found
            end_of_day = True
        elif kind == _KIND_HOURS:
            # start in UTC without astimezone: on a day whose offset does not change,
            # UTC midnight + (start - local midnight), where the subtraction is wall-clock
            day = None
            if known_tz and type(start) is datetime:
                days = _LOCAL_DAYS.get(tzinfo)
                if days is not None:
                    day = days.get(start.toordinal())
                if day is None:
                    day = local_day(tzinfo, start.toordinal())  # type: ignore[arg-type]
            if day is not None and day[2]:
                due = day[1] + (start - day[0] + extra)
            else:
                due = start.astimezone(UTC) + extra
            nominal, end_of_day = due, False
            if extend:
                ordinal = due.astimezone(zone).toordinal()
                moved = cal.add_open_days(ordinal - 1, 1, 5)
                if moved != ordinal:
                    due, end_of_day = end_of_local_day(moved, zone), True
        else:  # business hours
            local = start if tzinfo is zone else start.astimezone(zone)
            time_us = (
                (local.hour * 60 + local.minute) * 60 + local.second
            ) * 1_000_000 + local.microsecond
            ordinal = local.toordinal()
            # rules.walk_business_hours without its trace, inlined, with the calendar's
            # business-day tables read directly (tests/clocks/test_fast_paths.py compares)
            remaining = extra
            us_windows = windows.us_windows
            base, cum, pos = cal._table5  # one consistent snapshot of the tables
            i = ordinal - base
            if 0 < i < len(cum):
                open_day = cum[i] != cum[i - 1]
            else:
                open_day = cal.add_open_days(ordinal - 1, 1, 5) == ordinal
            found = -1
            if open_day:
                for window_start, window_end in us_windows:
                    if window_end > time_us:
                        begin = window_start if window_start > time_us else time_us
                        if remaining <= window_end - begin:
                            found = begin + remaining
                            break
                        remaining -= window_end - begin
            if found < 0:
                full, rest = divmod(remaining, windows.us_per_day)
                if not rest:  # ends exactly at the close of a day: that day, not the next
                    full, rest = full - 1, windows.us_per_day
                try:
                    ordinal = (
                        pos[cum[i] + full + 1]
                        if i >= 0
                        else cal.add_open_days(ordinal, full + 1, 5)
                    )
                except IndexError:  # beyond the tables: the method widens them
                    ordinal = cal.add_open_days(ordinal, full + 1, 5)
                for window_start, window_end in us_windows:
                    if rest <= window_end - window_start:
                        found = window_start + rest
                        break
                    rest -= window_end - window_start
            time_us = found
            # the result is always on a business day: art. 642 extension never moves it
            days = _LOCAL_DAYS.get(zone)
            day = days.get(ordinal) if days is not None else None
            if day is None:
                day = local_day(zone, ordinal)
            if day[2]:  # steady offset that day: UTC midnight + time of day (0 to 24:00)
                minutes, rest = divmod(time_us, 60_000_000)
                due = day[1] + _MINUTE_DELTAS[minutes]
                if rest:
                    due += _SUB_MINUTE_DELTAS.get(rest) or _sub_minute(rest)
            else:
                due = local_to_utc(ordinal, time_us, zone)
            nominal, end_of_day = due, False
    except ClockError:
        raise
    except (OverflowError, ValueError) as exc:
        raise DeadlineOutOfRangeError(
            f"{duration} after {start.isoformat()} falls outside the supported dates ({exc})"
        ) from exc
    # Deadline(...) would run the same stores through a Python __init__ call, which costs
    # about as much as the whole computation above; build the instance directly instead.
    result = _new_object(Deadline)
    result.start = start
    result.duration = duration
    result.zone = zone
    result.calendar = cal
    result.due = due
    result.end_of_day = end_of_day
    result.extend = extend
    result.nominal_due = nominal
    result.business_hours = windows
    result.clause = clause
    return result
