"""The single entry point, :func:`compute_deadline`: event instant + duration + calendar → due.

Pure: no database, no network, never reads the wall clock (``now`` is always an argument of the
result's helpers). Inputs are validated here; the arithmetic lives in :mod:`rules` and
:mod:`calendars`.

Speed: the hot path re-parses and re-builds nothing. The arguments that describe a clock
(duration, zone, calendar, windows, extension) are validated once and kept as a *plan*, found
again by the duration object's id (its other arguments then compared, see :data:`_LAST_PLANS`).
Each plan keeps a day table (:mod:`daytables`: a list indexed by day, bounded) of what does not
depend on the event's time of day:

* day-based clocks: the due itself, as their end depends only on the event's local day;
* elapsed hours: local midnight and UTC midnight + the duration, so that an event in the
  contract's zone is converted to UTC without ``astimezone`` (see :func:`rules.local_day`);
* business hours: the day cut into pieces (:func:`rules.business_hours_pieces`) on which the
  due is either fixed (event outside the windows) or the event's time of day plus a fixed
  instant (inside a window), each filled by one walk of the windows the first time it is used.

The result is built without going through ``Deadline.__init__``.
``tests/clocks/test_fast_paths.py`` checks every shortcut against the plain computation.
"""

from __future__ import annotations

from bisect import bisect_left
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from .calendars import Calendar, ClosingDaysInput, get_calendar
from .daytables import new_table, remember
from .deadline import Deadline
from .durations import Duration, DurationUnit, parse_duration
from .errors import ClockError, DeadlineOutOfRangeError, MissingBusinessHoursError
from .rules import (
    _LOCAL_DAYS,
    ONE_MICROSECOND,
    add_months,
    business_hours_pieces,
    end_of_local_day,
    local_day,
    local_to_utc,
    walk_business_hours,
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
_new_object = object.__new__

# (duration, tz, calendar, business_hours, extend) -> plan; see _plan. A duration given as text
# is part of the key as such (equal texts, e.g. read from each contract's terms, share a plan);
# a Duration by its id, because hashing a Duration runs Python code (the plan holds the
# duration, so that id cannot be re-used by another object while the entry exists).
_PLANS: dict[tuple[Any, ...], list[Any]] = {}
# id(duration) -> (duration, (tz, calendar, business_hours, extend), plan) last used with that
# duration object: found with one int look-up, then the other arguments are compared, which
# costs nothing for the very same objects (the usual case in a batch). Hashing the 5-tuple key
# of _PLANS instead costs about a tenth of a whole computation. The entry holds the duration,
# so that its id cannot be re-used while the entry exists.
_LAST_PLANS: dict[int, tuple[Any, tuple[Any, ...], list[Any]]] = {}
_PLAN_LIMIT = 4_096
_TABLE = 7  # where a plan keeps its day table (see daytables)


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
) -> list[Any]:
    """Validate the clock's arguments (in the documented order: zone, calendar, duration,
    windows) and return their plan ``[duration, kind, zone, calendar, windows, amount, extra,
    day table, duration as given]``: a list, as its day table is replaced when it is widened."""
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
        kind, extra = _KIND_BUSINESS_HOURS, _business_shape(windows, amount * 3_600_000_000)
    else:
        kind = _KIND_DAYS
    # the plan ends with the duration as given (text or Duration): that keeps its id, part
    # of the key of a Duration's plan, from being re-used while the plan is remembered
    return [parsed, kind, zone, cal, windows, amount, extra, new_table(), duration]


def _plain(tz: object, calendar: object, business_hours: object, extend: object) -> bool:
    """Whether these arguments are plain values (text, bool), by which plans are remembered."""
    return (
        type(tz) is str
        and type(calendar) is str
        and (business_hours is None or type(business_hours) is str)
        and type(extend) is bool
    )


def _plan_key(
    duration: Duration | str,
    tz: str,
    calendar: str | Calendar,
    business_hours: str | BusinessHours | None,
    extend: bool,
) -> tuple[Any, ...]:
    """Key of :data:`_PLANS`: text durations by value, Duration objects by id."""
    return (
        duration if type(duration) is str else id(duration),
        tz,
        calendar,
        business_hours,
        extend,
    )


def _find_plan(
    duration: Duration | str,
    tz: str,
    calendar: str | Calendar,
    business_hours: str | BusinessHours | None,
    extend: bool,
    closing_days: ClosingDaysInput | None,
) -> list[Any]:
    """The plan for these arguments: found in :data:`_PLANS`, else made by :func:`_plan` and
    remembered there when the arguments are plain values (text, bool); then also kept in
    :data:`_LAST_PLANS` as the last one used with this duration object."""
    if closing_days:  # a calendar of its own: not remembered
        return _plan(duration, tz, calendar, business_hours, extend, closing_days)
    key = _plan_key(duration, tz, calendar, business_hours, extend)
    try:
        plan = _PLANS.get(key)
    except TypeError:  # an unhashable argument: _plan refuses it with the right error
        plan = None
    if plan is None:
        plan = _plan(duration, tz, calendar, business_hours, extend, closing_days)
        if not _plain(tz, calendar, business_hours, extend):
            return plan
        if len(_PLANS) >= _PLAN_LIMIT:
            _PLANS.clear()
        _PLANS[key] = plan
    if len(_LAST_PLANS) >= _PLAN_LIMIT:
        _LAST_PLANS.clear()
    _LAST_PLANS[id(duration)] = (duration, (tz, calendar, business_hours, extend), plan)
    return plan


@lru_cache(maxsize=256)
def _business_shape(
    windows: BusinessHours | None, amount_us: int
) -> tuple[int, tuple[timedelta, ...], tuple[bool, ...], tuple[bool, ...]]:
    """``(amount_us, cuts, linear, closed)`` of a business-hours plan: the pieces of
    :func:`rules.business_hours_pieces` with the cuts as timedeltas (to compare with a time of
    day), which pieces are linear on a business day, and on other days (none). Cached: plans
    made again for the same windows and amount (a new Duration each time) share it."""
    assert windows is not None  # _plan asks for windows first
    cuts, linear = business_hours_pieces(windows, amount_us)
    deltas = tuple(timedelta(microseconds=cut) for cut in cuts)
    return amount_us, deltas, linear, (False,) * len(linear)


def _business_day(plan: list[Any], ordinal: int) -> list[Any]:
    """The table of a business-hours plan for events on local day ``ordinal`` (remembered).

    A list ``[local midnight, linear, instant of piece 0, instant of piece 1, ...]`` (one
    object, as it is read on every call): ``linear`` tells, per piece (see
    :func:`rules.business_hours_pieces`), whether its instant is a due or a base to which the
    event's time of day is added. Instants are filled by :func:`_business_due` the first time
    an event falls in their piece, so a day costs one walk per piece used.
    """
    zone, cal, shape = plan[2], plan[3], plan[6]
    day = date.fromordinal(ordinal)
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    linear = shape[2] if cal.add_open_days(ordinal - 1, 1, 5) == ordinal else shape[3]
    return remember(plan, _TABLE, ordinal, [midnight, linear, *[None] * len(linear)])


def _business_due(
    plan: list[Any], day: list[Any], index: int, ordinal: int, wall: timedelta
) -> datetime:
    """Due of an event on local day ``ordinal`` at time of day ``wall`` (in piece ``index``
    of ``day``), by walking the windows; fills the piece for the next events.

    A linear piece keeps ``due - wall``, unless its events end on a day whose UTC offset
    changes (their due is then not a fixed shift of the time of day): those are walked every
    time. Threads that fill the same piece at once store equal values.
    """
    zone, cal, windows, shape = plan[2], plan[3], plan[4], plan[6]
    end_ord, end_us = walk_business_hours(ordinal, wall // ONE_MICROSECOND, shape[0], windows, cal)
    due = local_to_utc(end_ord, end_us, zone)
    if day[1] is shape[3]:  # not a business day: every event starts at the same opening
        day[2:] = [due] * (len(day) - 2)
    elif not day[1][index]:  # outside the windows: counting starts at the next opening
        day[index + 2] = due
    elif local_day(zone, end_ord)[2]:  # inside a window, ending on a day of steady offset
        with suppress(OverflowError):  # the first instants of year 1: walked every time
            day[index + 2] = due - wall
    return due


def _hours_day(plan: list[Any], ordinal: int) -> tuple[datetime, datetime, bool]:
    """``(local midnight, UTC midnight + duration, steady)`` of an elapsed-hours plan for events
    on local day ``ordinal`` of its zone (remembered): the due of such an event is then one
    wall-clock subtraction and one addition away. Not usable when ``steady`` is false (see
    :func:`rules.local_day`)."""
    zone, extra = plan[2], plan[6]
    midnight, midnight_utc, steady = local_day(zone, ordinal)
    if steady:
        midnight_utc += extra  # not beyond the due of any event of that day
    return remember(plan, _TABLE, ordinal, (midnight, midnight_utc, steady))


def _day_due(plan: list[Any], event_ord: int, extend: bool) -> tuple[datetime, datetime] | datetime:
    """Due of a day-based clock for an event on local day ``event_ord``; ``(due, nominal due)``
    when extension moved it. Remembered: one object fewer per day (and one fewer memory
    access per deadline) than a pair every time."""
    duration, _kind, zone, cal, _windows, amount, _extra, _table, _given = plan
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
    return remember(plan, _TABLE, event_ord, due if due is nominal else (due, nominal))


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
    last = None if closing_days else _LAST_PLANS.get(id(duration))
    try:
        same = last is not None and last[1] == (tz, calendar, business_hours, extend)
    except Exception:  # an argument that cannot compare: _plan refuses it
        same = False
    if same:
        plan = last[2]  # type: ignore[index]
    else:
        plan = _find_plan(duration, tz, calendar, business_hours, extend, closing_days)
    duration, kind, zone, cal, windows, _amount, extra, table, _given = plan
    try:
        if kind == _KIND_DAYS:  # the end depends only on the event's local day
            event_ord = (start if tzinfo is zone else start.astimezone(zone)).toordinal()
            slot = event_ord - table[0]  # see daytables
            try:
                found = table[slot] if slot > 0 else None
            except IndexError:  # after the table's last day
                found = None
            if found is None:
                found = _day_due(plan, event_ord, extend)
            if extend and type(found) is tuple:  # moved by the extension: see _day_due
                due, nominal = found
            else:
                due = nominal = found
            end_of_day = True
        elif kind == _KIND_HOURS:
            # start in UTC without astimezone: on a day whose offset does not change,
            # UTC midnight + (start - local midnight), where the subtraction is wall-clock
            if tzinfo is zone and type(start) is datetime:  # see _hours_day
                ordinal = start.toordinal()
                slot = ordinal - table[0]
                try:
                    day = table[slot] if slot > 0 else None
                except IndexError:
                    day = None
                if day is None:
                    day = _hours_day(plan, ordinal)
                due = day[1] + (start - day[0]) if day[2] else start.astimezone(UTC) + extra
            else:  # another zone or a fixed offset: that zone's cached midnights
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
        else:  # business hours: one walk per piece of the event's day, see _business_day
            local = start if tzinfo is zone else start.astimezone(zone)
            ordinal = local.toordinal()
            slot = ordinal - table[0]
            try:
                day = table[slot] if slot > 0 else None
            except IndexError:
                day = None
            if day is None:
                day = _business_day(plan, ordinal)
            wall = local - day[0]  # time of day (same tzinfo: wall-clock difference)
            index = bisect_left(extra[1], wall)
            instant = day[index + 2]
            if instant is None:
                due = _business_due(plan, day, index, ordinal, wall)
            elif day[1][index]:
                due = instant + wall
            else:
                due = instant
            # the result is always on a business day: art. 642 extension never moves it
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
