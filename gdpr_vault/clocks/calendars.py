"""Holiday calendars: French public holidays (``holidays`` package) plus per-contract closing days.

Two things matter here besides correctness:

* **No hand-written holiday table**: dates come from the maintained ``holidays`` package, looked
  up once per (subdivision, year) and cached.
* **Cost independent of the length of the period**: counting N business days jumps over whole
  weeks arithmetically on day ordinals, then corrects for the few closed days in the range found
  by :func:`bisect.bisect_right` on a sorted list of ordinals. 2,000 business days cost the same
  as 10.

Calendar specs: ``FR`` (national list), ``FR-57`` (Moselle), ``FR-67`` (Bas-Rhin) and ``FR-68``
(Haut-Rhin). The last three are the Alsace-Moselle local law, which adds Good Friday and
26 December; the ``holidays`` package calls them subdivision ``57`` and ``6AE`` (Collectivité
européenne d'Alsace, which covers both 67 and 68).
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from types import MappingProxyType

import holidays

from .errors import DeadlineOutOfRangeError, InvalidClosingDaysError, UnknownCalendarError

__all__ = [
    "CALENDAR_SPECS",
    "Calendar",
    "ClosingDay",
    "ClosingDaysInput",
    "get_calendar",
]

#: Our calendar codes → the ``holidays`` package's subdivision for France (None = national).
CALENDAR_SPECS: Mapping[str, str | None] = MappingProxyType(
    {"FR": None, "FR-57": "57", "FR-67": "6AE", "FR-68": "6AE"}
)

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Ordinal 1 (0001-01-01) is a Monday, so (ordinal - 1) % 7 is the weekday (0 = Monday).
_HOLIDAY_YEARS_MARGIN = 10  # years loaded beyond the one asked for, to avoid frequent rebuilds
_MAX_COVERED_YEARS = 400  # refuse absurd periods rather than load centuries of holidays


@dataclass(frozen=True, slots=True)
class ClosingDay:
    """A day a contract party is closed (e.g. a company bridge day), with a label for humans."""

    day: date
    label: str = "closing day"


ClosingDaysInput = Mapping[date, str] | Iterable[ClosingDay | tuple[date, str] | date]


@lru_cache(maxsize=512)
def _public_holidays(subdiv: str | None, year: int) -> Mapping[date, str]:
    """France's public holidays for one year, English names (stable explanation text)."""
    found = holidays.country_holidays("FR", subdiv=subdiv, years=year, language="en_US")
    return MappingProxyType(dict(found))


def _normalise_spec(spec: str) -> str:
    if not isinstance(spec, str):
        raise UnknownCalendarError(f"calendar must be text such as 'FR', got {spec!r}")
    key = spec.strip().upper()
    if key not in CALENDAR_SPECS:
        raise UnknownCalendarError(
            f"unknown calendar {spec!r}; supported: {', '.join(CALENDAR_SPECS)}"
        )
    return key


def _normalise_closing_days(closing_days: ClosingDaysInput | None) -> tuple[ClosingDay, ...]:
    if not closing_days:
        return ()
    items: Iterable[object] = (
        closing_days.items() if isinstance(closing_days, Mapping) else closing_days
    )
    found: dict[date, str] = {}
    for item in items:
        if isinstance(item, ClosingDay):
            day, label = item.day, item.label
        elif isinstance(item, tuple) and len(item) == 2:
            day, label = item
        else:
            day, label = item, "closing day"
        # a datetime is a date subclass but means an instant: refuse it rather than guess
        if not isinstance(day, date) or hasattr(day, "hour") or not isinstance(label, str):
            raise InvalidClosingDaysError(
                f"closing day must be a date with an optional text label, got {item!r}"
            )
        found[day] = label
    return tuple(ClosingDay(d, found[d]) for d in sorted(found))


class Calendar:
    """A holiday calendar: a spec (``FR``, ``FR-57``…) and optional contract closing days.

    Day arithmetic works on ordinals (``date.toordinal()``) with a *week mask* of 5 open days
    (Mon-Fri, jours ouvrés) or 6 (Mon-Sat, jours ouvrables). Closed days are public holidays and
    closing days that fall on an otherwise open weekday; they are kept as sorted ordinal lists
    covering a range of years that grows on demand.

    Instances are immutable from the outside and safe to share; use :func:`get_calendar` to get
    a cached one.
    """

    __slots__ = (
        "_closed5",
        "_closed6",
        "_closing",
        "_hi_ord",
        "_lo_ord",
        "_lock",
        "_subdiv",
        "_table5",
        "_table6",
        "closing_days",
        "spec",
    )

    def __init__(self, spec: str = "FR", closing_days: ClosingDaysInput | None = ()) -> None:
        self.spec: str = _normalise_spec(spec)
        self._subdiv = CALENDAR_SPECS[self.spec]
        self.closing_days: tuple[ClosingDay, ...] = _normalise_closing_days(closing_days)
        self._closing: dict[date, str] = {c.day: c.label for c in self.closing_days}
        self._lo_ord = 0  # covered ordinal range [lo, hi]; empty while hi < lo
        self._hi_ord = -1
        self._closed5: list[int] = []
        self._closed6: list[int] = []
        # O(1) tables over the covered range, as one tuple (base, cum, pos) so that a rebuild
        # by another thread is seen all at once: cum[i] = open days in [base, base + i];
        # pos[c] = ordinal of the c-th open day counted from base.
        self._table5: tuple[int, list[int], list[int]] = (0, [], [])
        self._table6: tuple[int, list[int], list[int]] = (0, [], [])
        self._lock = threading.Lock()

    # -- identity ---------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Calendar):
            return NotImplemented
        return self.spec == other.spec and self.closing_days == other.closing_days

    def __hash__(self) -> int:
        return hash((self.spec, self.closing_days))

    def __repr__(self) -> str:
        return f"Calendar({self.spec!r}, closing_days={list(self.closing_days)!r})"

    def __str__(self) -> str:
        if not self.closing_days:
            return self.spec
        return f"{self.spec} + {len(self.closing_days)} closing day(s)"

    def with_closing_days(self, closing_days: ClosingDaysInput | None) -> Calendar:
        """This calendar with extra closing days (the existing ones are kept)."""
        extra = _normalise_closing_days(closing_days)
        if not extra:
            return self
        return get_calendar(self.spec, (*self.closing_days, *extra))

    # -- single days ------------------------------------------------------------------------
    def holiday(self, day: date) -> str | None:
        """Name of the public holiday on ``day``, or None."""
        return _public_holidays(self._subdiv, day.year).get(day)

    def closure(self, day: date) -> str | None:
        """Why ``day`` is closed regardless of the weekday: public holiday or closing day."""
        name = self.holiday(day)
        if name is not None:
            return f"public holiday: {name}"
        label = self._closing.get(day)
        if label is not None:
            return f"closing day: {label}"
        return None

    def skip_reason(self, day: date, days_per_week: int = 5) -> str | None:
        """Why ``day`` is not an open day for the week mask, or None when it is open."""
        weekday = day.weekday()
        if weekday >= days_per_week:
            return f"weekend ({WEEKDAY_NAMES[weekday]})"
        return self.closure(day)

    def is_business_day(self, day: date) -> bool:
        """Jour ouvré: Monday-Friday, not a public holiday, not a closing day."""
        return day.weekday() < 5 and self.closure(day) is None

    def is_working_day(self, day: date) -> bool:
        """Jour ouvrable: Monday-Saturday, not a public holiday, not a closing day."""
        return day.weekday() < 6 and self.closure(day) is None

    # -- ranges (ordinals) ------------------------------------------------------------------
    def _cover(self, lo_ord: int, hi_ord: int) -> None:
        """Make the closed-day lists cover ordinals [lo_ord, hi_ord] (whole years, padded)."""
        with self._lock:
            if self._lo_ord <= lo_ord and hi_ord <= self._hi_ord:
                return
            lo_year = date.fromordinal(max(lo_ord, 1)).year
            hi_year = date.fromordinal(min(hi_ord, date.max.toordinal())).year
            if self._hi_ord >= self._lo_ord:  # keep what is already covered
                lo_year = min(lo_year, date.fromordinal(self._lo_ord).year)
                hi_year = max(hi_year, date.fromordinal(self._hi_ord).year)
            lo_year = max(lo_year - 1, date.min.year)
            hi_year = min(hi_year + _HOLIDAY_YEARS_MARGIN, date.max.year)
            if hi_year - lo_year > _MAX_COVERED_YEARS:
                raise DeadlineOutOfRangeError(
                    f"period spans more than {_MAX_COVERED_YEARS} years of holidays"
                )
            closed: dict[int, None] = {}
            for year in range(lo_year, hi_year + 1):
                for day in _public_holidays(self._subdiv, year):
                    closed[day.toordinal()] = None
            for day in self._closing:
                if lo_year <= day.year <= hi_year:
                    closed[day.toordinal()] = None
            ordered = sorted(closed)
            closed5 = [o for o in ordered if (o - 1) % 7 < 5]
            closed6 = [o for o in ordered if (o - 1) % 7 < 6]
            lo_ord, hi_ord = date(lo_year, 1, 1).toordinal(), date(hi_year, 12, 31).toordinal()
            # publish the new lists before widening the range readers check against
            self._closed5, self._closed6 = closed5, closed6
            self._table5 = _tables(lo_ord, hi_ord, 5, closed)
            self._table6 = _tables(lo_ord, hi_ord, 6, closed)
            self._lo_ord, self._hi_ord = lo_ord, hi_ord

    def is_open(self, day_ord: int, days_per_week: int = 5) -> bool:
        """Whether the day with this ordinal is open (jour ouvré for 5, ouvrable for 6)."""
        return self.add_open_days(day_ord - 1, 1, days_per_week) == day_ord

    def add_open_days(self, day_ord: int, n: int, days_per_week: int = 5) -> int:
        """Ordinal of the ``n``-th open day strictly after ``day_ord`` (n >= 1).

        Within the covered years this is two list look-ups; outside, see
        :meth:`_add_open_days_far`.
        """
        base, cum, pos = self._table5 if days_per_week == 5 else self._table6
        i = day_ord - base
        if i >= 0:
            try:
                return pos[cum[i] + n]
            except IndexError:
                pass
        return self._add_open_days_far(day_ord, n, days_per_week)

    def _add_open_days_far(self, day_ord: int, n: int, days_per_week: int = 5) -> int:
        """:meth:`add_open_days` without the tables (and widening the covered range).

        Counting weekdays is arithmetic: with k open days per week, the number of open weekdays
        up to ordinal o is ``(o-1)//7*k + min((o-1)%7+1, k)``, which inverts with one divmod.
        Closed weekdays in the range push the end further; the loop runs once per batch of
        holidays found (a handful of times at most), never once per day.
        """
        k = days_per_week
        # rough upper bound of the end, so one _cover call usually suffices
        estimate = day_ord + n * 7 // k + n // 10 + 60
        if day_ord < self._lo_ord or estimate > self._hi_ord:
            self._cover(day_ord, estimate)
        closed = self._closed5 if k == 5 else self._closed6
        o = day_ord - 1
        count = (o // 7) * k + min(o % 7 + 1, k) + n
        weeks, rest = divmod(count - 1, k)
        end = weeks * 7 + rest + 1
        low = day_ord
        while True:
            if end > self._hi_ord:  # more closed days than estimated: widen and start again
                self._cover(day_ord, end + n // 10 + 366)
                return self._add_open_days_far(day_ord, n, days_per_week)
            extra = bisect_right(closed, end) - bisect_right(closed, low)
            if not extra:
                return end
            count += extra
            weeks, rest = divmod(count - 1, k)
            low, end = end, weeks * 7 + rest + 1

    def next_open_day(self, day: date, days_per_week: int = 5) -> date:
        """``day`` itself when open, else the first open day after it."""
        return date.fromordinal(self.add_open_days(day.toordinal() - 1, 1, days_per_week))

    def add_business_days(self, day: date, n: int) -> date:
        """The n-th jour ouvré after ``day`` (``day`` itself not counted)."""
        return date.fromordinal(self.add_open_days(day.toordinal(), n, 5))

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th jour ouvrable after ``day`` (``day`` itself not counted)."""
        return date.fromordinal(self.add_open_days(day.toordinal(), n, 6))

    def skipped_between(
        self, after: date, until: date, days_per_week: int = 5
    ) -> tuple[int, list[tuple[date, str]]]:
        """Days in ``(after, until]`` that are not open: (number of weekend days, closed days).

        Closed days are listed with their reason (holiday name or closing label); weekend days
        are only counted, as listing every Saturday of a long period helps nobody.
        """
        if until <= after:
            return 0, []
        lo, hi = after.toordinal(), until.toordinal()
        self._cover(lo, hi)
        closed = self._closed5 if days_per_week == 5 else self._closed6
        k = days_per_week
        total = hi - lo

        def open_weekdays(o: int) -> int:
            o -= 1
            return (o // 7) * k + min(o % 7 + 1, k)

        weekend = total - (open_weekdays(hi) - open_weekdays(lo))
        listed = []
        for o in closed[bisect_right(closed, lo) : bisect_right(closed, hi)]:
            day = date.fromordinal(o)
            listed.append((day, self.closure(day) or "closed"))
        return weekend, listed


def _tables(
    lo_ord: int, hi_ord: int, k: int, closed: Mapping[int, None]
) -> tuple[int, list[int], list[int]]:
    """(base, cumulative open-day counts, open-day positions) over ``[lo_ord, hi_ord]``."""
    cum: list[int] = []
    pos: list[int] = [lo_ord - 1]  # position 0: "before the first open day"
    count = 0
    for o in range(lo_ord, hi_ord + 1):
        if (o - 1) % 7 < k and o not in closed:
            count += 1
            pos.append(o)
        cum.append(count)
    return lo_ord, cum, pos


_CALENDARS: dict[tuple[str, tuple[ClosingDay, ...]], Calendar] = {}


def get_calendar(
    spec: str | Calendar = "FR", closing_days: ClosingDaysInput | None = ()
) -> Calendar:
    """A shared :class:`Calendar` for ``spec`` plus ``closing_days`` (cached: its holiday
    lists are built once and re-used by every deadline)."""
    if isinstance(spec, Calendar):
        return spec.with_closing_days(closing_days)
    key = (_normalise_spec(spec), _normalise_closing_days(closing_days))
    found = _CALENDARS.get(key)
    if found is None:
        found = _CALENDARS.setdefault(key, Calendar(*key))
    return found
