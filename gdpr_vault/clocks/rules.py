"""The counting rules themselves, as small pure functions on day ordinals and local times.

Kept apart from :mod:`engine` (which validates input and assembles results) so that the
explanation code can replay a computation step by step with the very same arithmetic.

Speed notes: building datetimes and timedeltas is the dominant cost of this engine in CPython,
so local days are handled as ordinals, times of day as integer microseconds, and the few
datetime values needed (end of a local day, local midnight in UTC) are cached per zone and day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import pairwise

from .calendars import Calendar
from .windows import BusinessHours

__all__ = [
    "BusinessHoursTrace",
    "add_months",
    "business_hours_pieces",
    "end_of_local_day",
    "local_day",
    "local_to_utc",
    "walk_business_hours",
]

ONE_MICROSECOND = timedelta(microseconds=1)
US_PER_DAY = 86_400_000_000
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_CACHE_LIMIT = 200_000  # entries per cache before it is simply cleared (bounded memory)
_ZONE_LIMIT = 1_000  # distinct tzinfo objects with a per-day cache, likewise


def add_months(day: date, months: int) -> date:
    """Code de procédure civile art. 641: the day of the last month with the same number as
    ``day``; where that month has no such day, its last day (31 Jan + 1 month → 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    last = _DAYS_IN_MONTH[month - 1]
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        last = 29
    return date(year, month, min(day.day, last))


# zone -> {ordinal: (UTC instant of local midnight, offset constant all day)}
_MIDNIGHTS: dict[tzinfo, dict[int, tuple[datetime, bool]]] = {}
# zone -> {ordinal: last instant of that local day, UTC}
_DAY_ENDS: dict[tzinfo, dict[int, datetime]] = {}
_DELTAS: dict[int, timedelta] = {}


def _midnight(zone: tzinfo, ordinal: int) -> tuple[datetime, bool]:
    """UTC instant at which local day ``ordinal`` starts, and whether its UTC offset is the
    same all day (true except on daylight-saving change days).

    Local midnight is built with fold=0: if a zone skips midnight (offset change at 00:00), the
    pre-transition offset maps it to the instant the day really starts.
    """
    per_zone = _MIDNIGHTS.get(zone)
    if per_zone is None:
        per_zone = _MIDNIGHTS.setdefault(zone, {})
    found = per_zone.get(ordinal)
    if found is None:
        if len(per_zone) >= _CACHE_LIMIT:
            per_zone.clear()
        day = date.fromordinal(ordinal)
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        late = datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=zone)
        found = (start.astimezone(UTC), start.utcoffset() == late.utcoffset())
        per_zone[ordinal] = found
    return found


def end_of_local_day(ordinal: int, zone: tzinfo) -> datetime:
    """The last instant (UTC) of the local day ``ordinal``: one microsecond before the next
    local midnight (right even where a zone changes its offset at midnight)."""
    per_zone = _DAY_ENDS.get(zone)
    if per_zone is None:
        per_zone = _DAY_ENDS.setdefault(zone, {})
    found = per_zone.get(ordinal)
    if found is None:
        if len(per_zone) >= _CACHE_LIMIT:
            per_zone.clear()
        found = _midnight(zone, ordinal + 1)[0] - ONE_MICROSECOND
        per_zone[ordinal] = found
    return found


# zone -> {ordinal: (local midnight in that zone, the same instant in UTC, offset steady)}
_LOCAL_DAYS: dict[tzinfo, dict[int, tuple[datetime, datetime, bool]]] = {}
_UNSTEADY: tuple[datetime, datetime, bool] = (datetime.min, datetime.min, False)
_HOUR_STEPS = tuple(timedelta(hours=h) for h in range(1, 24))
#: timedelta(minutes=m) for every minute of a day (and 24:00), to build instants without
#: constructing timedeltas on the hot path
MINUTE_DELTAS = tuple(timedelta(minutes=m) for m in range(24 * 60 + 1))


def local_day(zone: tzinfo, ordinal: int) -> tuple[datetime, datetime, bool]:
    """``(local midnight, the same instant in UTC, steady)`` for local day ``ordinal``, cached.

    ``steady`` is true only when the zone's UTC offset is the same for every wall time of that
    day, whatever the ``fold``: no daylight-saving change at any hour, none at either midnight
    (an ambiguous or skipped midnight or 23:xx counts as a change). On a steady day, an aware
    ``value`` of that day with ``value.tzinfo is zone`` is, in UTC, exactly
    ``mid_utc + (value - mid_local)`` (same-tzinfo subtraction is wall-clock, which is right
    when the offset does not change), which is much cheaper than ``astimezone``. Callers must
    fall back to ``astimezone`` when ``steady`` is false (the instants are then not usable).
    """
    per_zone = _LOCAL_DAYS.get(zone)
    if per_zone is None:
        if len(_LOCAL_DAYS) >= _ZONE_LIMIT:  # e.g. many ZoneInfo.no_cache() objects
            _LOCAL_DAYS.clear()
        per_zone = _LOCAL_DAYS.setdefault(zone, {})
    found = per_zone.get(ordinal)
    if found is not None:
        return found
    if len(per_zone) >= _CACHE_LIMIT:
        per_zone.clear()
    found = _UNSTEADY
    try:
        day = date.fromordinal(ordinal)
        mid = datetime(day.year, day.month, day.day, tzinfo=zone)
        last = datetime(day.year, day.month, day.day, 23, 59, 59, 999_999, tzinfo=zone)
        offset = mid.utcoffset()
        if (
            offset is not None
            and mid.replace(fold=1).utcoffset() == offset
            and last.utcoffset() == offset
            and last.replace(fold=1).utcoffset() == offset
            and all((mid + step).utcoffset() == offset for step in _HOUR_STEPS)
        ):
            found = (mid, mid.astimezone(UTC), True)
    except (OverflowError, ValueError):  # near date.min / date.max: let callers fall back
        pass
    per_zone[ordinal] = found
    return found


def _delta(microseconds: int) -> timedelta:
    found = _DELTAS.get(microseconds)
    if found is None:
        if len(_DELTAS) >= _CACHE_LIMIT:
            _DELTAS.clear()
        found = _DELTAS[microseconds] = timedelta(microseconds=microseconds)
    return found


def local_to_utc(ordinal: int, time_us: int, zone: tzinfo) -> datetime:
    """UTC instant of the local wall-clock time ``time_us`` (microseconds after midnight) on
    local day ``ordinal``. A wall time that does not exist (spring-forward gap) or exists twice
    resolves like ``fold=0``: the offset in force before the change."""
    days = _LOCAL_DAYS.get(zone)
    found = days.get(ordinal) if days is not None else None
    if found is None:
        found = local_day(zone, ordinal)
    if found[2] and 0 <= time_us <= US_PER_DAY:  # the common case: no offset change that day
        minutes, rest = divmod(time_us, 60_000_000)
        result = found[1] + MINUTE_DELTAS[minutes]
        return result + _delta(rest) if rest else result
    if time_us == US_PER_DAY:  # 24:00, the end of a day whose offset changes: the next midnight
        return local_to_utc(ordinal + 1, 0, zone)
    day = date.fromordinal(ordinal)
    seconds, micro = divmod(time_us, 1_000_000)
    minutes, second = divmod(seconds, 60)
    local = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, second, micro)
    return local.replace(tzinfo=zone).astimezone(UTC)


class BusinessHoursTrace:
    """What :func:`walk_business_hours` did, for the explanation (filled only when asked).

    Days are ordinals, times are microseconds after local midnight.
    """

    __slots__ = ("counting_start", "first_day", "first_day_counted", "full_days", "last_day")

    def __init__(self) -> None:
        self.counting_start: int | None = None  # time of day on first_day
        self.first_day: int | None = None
        self.first_day_counted = 0
        self.full_days = 0  # business days counted in full between the first and the last day
        self.last_day: int | None = None


def walk_business_hours(
    ordinal: int,
    time_us: int,
    amount_us: int,
    hours: BusinessHours,
    calendar: Calendar,
    trace: BusinessHoursTrace | None = None,
) -> tuple[int, int]:
    """Local (day ordinal, time of day) at which ``amount_us`` of business time is used up.

    Counting starts at the event (day ``ordinal``, ``time_us`` after midnight) when it falls
    inside a window of a business day, else at the next window opening. Whole business days are
    jumped over with the calendar's O(1) business-day jump, so the cost does not depend on the
    amount. Hours that run out exactly at a window's end give that end (12:00, not the 14:00
    reopening).
    """
    remaining = amount_us
    windows = hours.us_windows
    if calendar.add_open_days(ordinal - 1, 1, 5) == ordinal:  # a business day
        for window_start, window_end in windows:
            if window_end <= time_us:
                continue
            begin = window_start if window_start > time_us else time_us
            if trace is not None and trace.counting_start is None:
                trace.counting_start, trace.first_day = begin, ordinal
            available = window_end - begin
            if remaining <= available:
                if trace is not None:
                    trace.first_day_counted += remaining
                    trace.last_day = ordinal
                return ordinal, begin + remaining
            remaining -= available
            if trace is not None:
                trace.first_day_counted += available
    per_day = hours.us_per_day
    full, rest = divmod(remaining, per_day)
    if not rest:  # ends exactly at the close of a day: that day is the last one, not the next
        full, rest = full - 1, per_day
    last_day = calendar.add_open_days(ordinal, full + 1, 5)
    if trace is not None:
        trace.full_days, trace.last_day = full, last_day
        if trace.counting_start is None:
            trace.first_day = calendar.add_open_days(ordinal, 1, 5)
            trace.counting_start = windows[0][0]
            if full:  # the first counted day is then one of the full days
                trace.first_day_counted = per_day
                trace.full_days = full - 1
    for window_start, window_end in windows:
        available = window_end - window_start
        if rest <= available:
            return last_day, window_start + rest
        rest -= available
    raise AssertionError("unreachable: rest never exceeds one business day")  # pragma: no cover


def business_hours_pieces(
    hours: BusinessHours, amount_us: int
) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """Cut an event's time of day into pieces on which :func:`walk_business_hours` is simple.

    Returns ``(cuts, linear)``. Piece ``i`` holds the times of day ``t`` (microseconds) with
    ``cuts[i - 1] < t <= cuts[i]`` (the first piece has no lower bound, the last no upper one).
    For events on a business day, the end of ``amount_us`` of business time is, within one
    piece, either the same instant (``linear[i]`` false: the event is outside the windows and
    counting starts at a fixed opening) or the same day and window shifted by exactly as much
    as ``t`` (``linear[i]`` true: the event is inside a window). On other days every piece
    ends at the same instant. So one walk per piece answers every event of that piece.

    Why the cuts are these: from ``t`` inside window ``j`` (which starts at ``s_j``, with
    ``c_j`` business time in the windows before it), the end lies ``x = c_j + (t - s_j) +
    amount_us`` of business time after that day's opening, which grows with ``t``. The end
    moves to another window, or day, only where ``x`` passes the end of a window, i.e. ``x``
    is ``c_k`` (business time up to the end of window ``k - 1``) plus a whole number of
    business days. Each such ``t`` inside a window is a cut, as are the window bounds. At a
    cut itself the end is the end of the earlier window (a period that runs out exactly at
    12:00 ends at 12:00), which is why a piece includes its upper bound.
    """
    windows = hours.us_windows
    per_day = hours.us_per_day
    points: set[int] = set()
    before = 0  # c_j: business time in the windows before window j
    for start, end in windows:
        points.update((start, end))
        boundary = 0  # c_k, for k = 1 .. number of windows
        for other_start, other_end in windows:
            boundary += other_end - other_start
            offset = (boundary - before - amount_us) % per_day
            if 0 < offset < end - start:
                points.add(start + offset)
        before += end - start
    cuts = tuple(sorted(points))
    linear = tuple(
        any(start <= low and high <= end for start, end in windows) for low, high in pairwise(cuts)
    )
    return cuts, (False, *linear, False)
