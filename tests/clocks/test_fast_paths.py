"""The engine's shortcuts agree with the plain, obviously-right computations.

``compute_deadline`` avoids ``astimezone`` on days whose UTC offset does not change (cached
local midnights), remembers per plan and day what does not depend on the event's time of day
(day tables), answers business hours from pieces of the day filled by one walk each, finds
plans by the duration's id and builds :class:`Deadline` without calling its ``__init__``. Each
shortcut is checked here against the straightforward version, including daylight-saving days,
ambiguous and skipped wall times (``fold``), zones that change their offset at midnight or on
a business day, fixed offsets and dates far outside the calendar tables.
"""

import random
from bisect import bisect_left
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdpr_vault.clocks import (
    Deadline,
    Duration,
    DurationUnit,
    UnknownTimeZoneError,
    compute_deadline,
    get_calendar,
    parse_duration,
    parse_windows,
)
from gdpr_vault.clocks.rules import (
    business_hours_pieces,
    local_day,
    local_to_utc,
    walk_business_hours,
)

# zones with ordinary DST, none, half-hour offsets, and changes at (or around) midnight
ZONES = [
    "Europe/Paris",
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Santiago",
    "America/Havana",
    "Asia/Beirut",
    "America/Sao_Paulo",
    "UTC",
]
TZINFOS = [ZoneInfo(z) for z in ZONES] + [
    UTC,
    timezone(timedelta(hours=1)),
    timezone(timedelta(hours=-9, minutes=-30)),
]
WINDOWS = ["09:00-12:00,14:00-18:00", "08:30-12:00,14:00-18:00", "09:00-18:00", "00:00-24:00"]
CALENDARS = ["FR", "FR-57", "FR-67", "FR-68"]

PROPERTY = settings(max_examples=400, deadline=None)

aware = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2060, 12, 31, 23, 59, 59),
    timezones=st.sampled_from(TZINFOS),
    allow_imaginary=True,
)


@PROPERTY
@given(start=aware, hours=st.integers(1, 24 * 800), tz=st.sampled_from(ZONES))
def test_elapsed_hours_equal_astimezone(start, hours, tz):
    dl = compute_deadline(start, Duration(hours, DurationUnit.HOURS), tz=tz)
    expected = start.astimezone(UTC) + timedelta(hours=hours)
    assert dl.due == expected
    assert dl.due.tzinfo is UTC
    assert dl.due.replace(tzinfo=None) == expected.replace(tzinfo=None)
    assert dl.due - start == timedelta(hours=hours)


@PROPERTY
@given(start=aware)
def test_local_day_shortcut_equals_astimezone(start):
    zone = start.tzinfo
    mid_local, mid_utc, steady = local_day(zone, start.toordinal())
    if steady:
        assert mid_utc + (start - mid_local) == start.astimezone(UTC)
        assert mid_local.replace(fold=1).utcoffset() == mid_local.utcoffset()


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("Europe/Paris", date(2026, 3, 29)),  # spring forward 02:00 -> 03:00
        ("Europe/Paris", date(2026, 10, 25)),  # fall back 03:00 -> 02:00
        ("America/Santiago", date(2026, 9, 6)),  # spring forward at midnight
        ("America/Santiago", date(2026, 4, 4)),  # fall back at 24:00: 23:xx happens twice
        ("America/Havana", date(2026, 3, 8)),  # 00:00 -> 01:00
    ],
)
def test_days_with_an_offset_change_are_not_steady(zone, day):
    assert local_day(ZoneInfo(zone), day.toordinal())[2] is False


@pytest.mark.parametrize("fold", [0, 1])
def test_ambiguous_wall_times_follow_fold(fold):
    start = datetime(2026, 10, 25, 2, 30, tzinfo=ZoneInfo("Europe/Paris"), fold=fold)
    dl = compute_deadline(start, Duration(1, DurationUnit.HOURS))
    assert dl.due == start.astimezone(UTC) + timedelta(hours=1)
    # the wall time 23:30 happens twice in Santiago on 4 April 2026 (24:00 -> 23:00)
    start = datetime(2026, 4, 4, 23, 30, tzinfo=ZoneInfo("America/Santiago"), fold=fold)
    dl = compute_deadline(start, Duration(2, DurationUnit.HOURS), tz="America/Santiago")
    assert dl.due == start.astimezone(UTC) + timedelta(hours=2)


def test_extreme_dates_still_work_or_fail_cleanly():
    for start in (
        datetime(1, 1, 1, 5, tzinfo=timezone(timedelta(hours=1))),
        datetime(1, 1, 1, 5, tzinfo=ZoneInfo("Europe/Paris")),
    ):
        dl = compute_deadline(start, Duration(1, DurationUnit.HOURS))
        assert dl.due == start.astimezone(UTC) + timedelta(hours=1)
    late = datetime(9999, 12, 31, 10, tzinfo=timezone(timedelta(hours=-5)))
    dl = compute_deadline(late, Duration(2, DurationUnit.HOURS))
    assert dl.due == late.astimezone(UTC) + timedelta(hours=2)


class _SubDatetime(datetime):
    pass


def test_datetime_subclasses_and_other_tzinfo_classes():
    class Fixed(timezone.__base__):  # type: ignore[misc,name-defined]
        def utcoffset(self, dt):
            return timedelta(hours=3)

        def dst(self, dt):
            return timedelta(0)

        def tzname(self, dt):
            return "X"

    for start in (
        _SubDatetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Paris")),
        datetime(2026, 3, 29, 1, 30, tzinfo=Fixed()),
    ):
        for unit in DurationUnit:
            windows = "09:00-18:00" if unit is DurationUnit.BUSINESS_HOURS else None
            dl = compute_deadline(start, Duration(30, unit), business_hours=windows)
            assert dl.due > start
        dl = compute_deadline(start, Duration(30, DurationUnit.HOURS))
        assert dl.due == start.astimezone(UTC) + timedelta(hours=30)


@PROPERTY
@given(
    start=aware,
    hours=st.integers(1, 2000),
    windows=st.sampled_from(WINDOWS),
    tz=st.sampled_from(ZONES),
    spec=st.sampled_from(CALENDARS),
)
def test_business_hours_due_is_the_local_wall_time_in_utc(start, hours, windows, tz, spec):
    dl = compute_deadline(
        start,
        Duration(hours, DurationUnit.BUSINESS_HOURS),
        tz=tz,
        calendar=spec,
        business_hours=windows,
    )
    zone = ZoneInfo(tz)
    local = start.astimezone(zone)
    event_us = (
        (local.hour * 60 + local.minute) * 60 + local.second
    ) * 1_000_000 + local.microsecond
    ordinal, time_us = walk_business_hours(
        local.toordinal(), event_us, hours * 3_600_000_000, parse_windows(windows), dl.calendar
    )
    day = date.fromordinal(ordinal)
    wall = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(microseconds=time_us)
    assert dl.due == wall.astimezone(UTC)  # fold=0 for a wall time that exists twice
    assert dl.due == local_to_utc(ordinal, time_us, zone)
    assert dl.due.tzinfo is UTC


@PROPERTY
@given(
    start=aware,
    unit=st.sampled_from(
        [DurationUnit.BUSINESS_DAYS, DurationUnit.WORKING_DAYS, DurationUnit.CALENDAR_DAYS]
    ),
    amount=st.integers(1, 3000),
    spec=st.sampled_from(CALENDARS),
    extend=st.booleans(),
    tz=st.sampled_from(ZONES),
)
def test_day_deadlines_equal_the_calendar_methods(start, unit, amount, spec, extend, tz):
    dl = compute_deadline(start, Duration(amount, unit), tz=tz, calendar=spec, extend=extend)
    cal = get_calendar(spec)
    event_day = start.astimezone(ZoneInfo(tz)).date()
    if unit is DurationUnit.BUSINESS_DAYS:
        last = cal.add_business_days(event_day, amount)
    elif unit is DurationUnit.WORKING_DAYS:
        last = cal.add_working_days(event_day, amount)
    else:
        last = event_day + timedelta(days=amount)
    if extend:
        last = cal.next_open_day(last, 5)
    assert dl.due_date_local == last
    assert dl.end_of_day


@pytest.mark.parametrize("unit", list(DurationUnit))
def test_engine_built_deadlines_are_complete_and_equal_to_constructed_ones(unit):
    start = datetime(2026, 4, 1, 10, tzinfo=ZoneInfo("Europe/Paris"))
    windows = "09:00-12:00,14:00-18:00" if unit is DurationUnit.BUSINESS_HOURS else None
    dl = compute_deadline(start, Duration(3, unit), business_hours=windows, clause="c", extend=True)
    for name in Deadline.__slots__:
        getattr(dl, name)  # every slot is set (AttributeError otherwise)
    rebuilt = Deadline(
        dl.start,
        dl.duration,
        dl.zone,
        dl.calendar,
        dl.due,
        dl.end_of_day,
        dl.extend,
        dl.nominal_due,
        dl.business_hours,
        dl.clause,
    )
    assert rebuilt == dl
    assert rebuilt.to_dict() == dl.to_dict()
    assert repr(rebuilt) == repr(dl)


def test_remembered_plans_never_mix_clocks_up():
    start = datetime(2026, 4, 30, 10, tzinfo=ZoneInfo("Europe/Paris"))  # Thursday
    one_day = Duration(1, DurationUnit.CALENDAR_DAYS)  # ends Friday 1 May, Labour Day
    for _ in range(3):  # first computed, then remembered: the same answers
        plain = compute_deadline(start, one_day, clause="a")
        extended = compute_deadline(start, one_day, extend=True, clause="b")
        text = compute_deadline(start, "1 day", extend=True)
        moselle = compute_deadline(start, one_day, calendar="FR-57", extend=True)
        closing = compute_deadline(
            start, one_day, extend=True, closing_days={date(2026, 5, 4): "bridge"}
        )
        assert plain.display == "2026-05-01 24:00 (Europe/Paris)"
        assert not plain.extend and plain.clause == "a"
        assert extended.display == "2026-05-04 24:00 (Europe/Paris)"
        assert extended.extended and extended.clause == "b"
        assert text.due == extended.due and text.duration == one_day
        assert moselle.calendar.spec == "FR-57"
        assert closing.display == "2026-05-05 24:00 (Europe/Paris)"
        assert closing.calendar.closing_days


def test_objects_given_are_the_objects_kept():
    start = datetime(2026, 4, 1, 10, tzinfo=ZoneInfo("Europe/Paris"))
    cal = get_calendar("FR-68")
    hours = parse_windows("09:00-12:00")
    duration = Duration(5, DurationUnit.BUSINESS_HOURS)
    for _ in range(2):
        dl = compute_deadline(start, duration, calendar=cal, business_hours=hours)
        assert dl.calendar is cal
        assert dl.business_hours is hours
        assert dl.duration is duration
        assert dl.display == "2026-04-02 12:00 (Europe/Paris)"  # 2 h, then 3 h
    assert compute_deadline(start, duration, business_hours="09:00-12:00").due == dl.due


def test_errors_are_the_same_whether_or_not_a_plan_is_remembered():
    from gdpr_vault.clocks import (
        InvalidDurationError,
        InvalidWindowsError,
        MissingBusinessHoursError,
        UnknownCalendarError,
        UnknownTimeZoneError,
    )

    start = datetime(2026, 4, 1, 10, tzinfo=ZoneInfo("Europe/Paris"))
    for _ in range(2):
        with pytest.raises(UnknownTimeZoneError):
            compute_deadline(start, "1 day", tz="Mars/Base", calendar="XX")
        with pytest.raises(UnknownCalendarError):
            compute_deadline(start, "forever", calendar="XX")
        with pytest.raises(InvalidDurationError):
            compute_deadline(start, "forever", business_hours="nonsense")
        with pytest.raises(InvalidWindowsError):
            compute_deadline(start, "1 business hour", business_hours="12:00-09:00")
        with pytest.raises(MissingBusinessHoursError):
            compute_deadline(start, "1 business hour")


# -- business hours: pieces of a day ----------------------------------------------------------
def _windows_from(points: list[int]) -> str:
    """Windows text from sorted distinct minutes, paired: [540, 720, 840, 1080] -> 09-12,14-18."""
    pairs = zip(points[::2], points[1::2], strict=True)
    return ",".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in pairs)


window_points = (
    st.integers(1, 4)
    .flatmap(
        lambda n: st.lists(st.integers(0, 24 * 60), min_size=2 * n, max_size=2 * n, unique=True)
    )
    .map(sorted)
)


@PROPERTY
@given(
    points=window_points,
    hours=st.integers(1, 400),
    times=st.lists(st.integers(0, 24 * 60 * 60_000_000 - 1), min_size=2, max_size=6),
    day=st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)),
)
def test_business_hours_pieces_are_constant_or_shifted(points, hours, times, day):
    """Within one piece, the end of the walk is the same instant (outside the windows, or any
    time of a closed day) or moves exactly with the event (inside a window): what the engine's
    per-day tables rely on."""
    windows = parse_windows(_windows_from(points))
    amount = hours * 3_600_000_000
    cuts, linear = business_hours_pieces(windows, amount)
    assert list(cuts) == sorted(set(cuts)) and len(linear) == len(cuts) + 1
    cal = get_calendar("FR")
    ordinal = day.toordinal()
    is_open = cal.is_business_day(day)
    by_piece: dict[int, list[tuple[int, tuple[int, int]]]] = {}
    for t in times + list(cuts) + [c + 1 for c in cuts] + [c - 1 for c in cuts if c > 0]:
        end = walk_business_hours(ordinal, t, amount, windows, cal)
        by_piece.setdefault(bisect_left(cuts, t), []).append((t, end))
    for index, ends in by_piece.items():
        (t0, (day0, end0)), *others = ends
        for t, (end_day, end_us) in others:
            if is_open and linear[index]:
                assert (end_day, end_us - end0) == (day0, t - t0)
            else:
                assert (end_day, end_us) == (day0, end0)


@pytest.mark.parametrize("windows", [*WINDOWS, "09:00-12:00,12:00-18:00", "23:00-24:00"])
@pytest.mark.parametrize("hours", [1, 3, 7, 9, 30, 48])
@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("Europe/Paris", date(2026, 3, 27)),  # Friday before spring forward: ends on Monday
        ("Europe/Paris", date(2026, 3, 29)),  # spring forward (a Sunday)
        ("Europe/Paris", date(2026, 10, 23)),  # Friday before fall back
        ("Europe/Paris", date(2026, 4, 30)),  # eve of Labour Day
        ("Europe/Paris", date(2026, 5, 1)),  # Labour Day
        ("America/Santiago", date(2026, 9, 4)),  # Friday before a midnight spring forward
        ("America/Santiago", date(2026, 4, 3)),  # Good Friday, the eve of a 24:00 fall back
        # zones that change their offset on a business day: ends fall on those days
        ("Asia/Jerusalem", date(2026, 3, 26)),  # Friday 27 March 02:00 -> 03:00
        ("Asia/Tehran", date(2021, 3, 19)),  # Monday 22 March 2021 00:00 -> 01:00
        ("Asia/Tehran", date(2021, 9, 20)),  # Tuesday 21 September 2021: 23:xx twice
        ("Africa/Cairo", date(2024, 10, 30)),  # Thursday 31 October 2024: 23:xx twice
    ],
)
def test_business_hours_day_tables_answer_every_time_of_day(windows, hours, zone, day):
    """Events all over one day, in a shuffled order (each piece is first filled from wherever an
    event happens to fall), twice: each due equals the plain walk, for events given in the
    contract's zone and in UTC."""
    tz = ZoneInfo(zone)
    duration = Duration(hours, DurationUnit.BUSINESS_HOURS)
    hours_windows = parse_windows(windows)
    minutes = {m for s, e in hours_windows.windows for m in (s, e)} | set(range(0, 24 * 60, 7))
    starts = [
        datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(minutes=m, microseconds=us)
        for m in sorted(minutes)
        for us in (-1, 0, 1, 29_999_999)
    ]
    starts = [s for s in starts if s.date() == day]
    random.Random(hours).shuffle(starts)
    cal = get_calendar("FR")
    for start in starts * 2 + [s.astimezone(UTC) for s in starts]:
        local = start.astimezone(tz)
        midnight = datetime(local.year, local.month, local.day, tzinfo=tz)
        event_us = (local - midnight) // timedelta(microseconds=1)
        ordinal, time_us = walk_business_hours(
            local.toordinal(), event_us, hours * 3_600_000_000, hours_windows, cal
        )
        expected = local_to_utc(ordinal, time_us, tz)
        dl = compute_deadline(start, duration, tz=zone, business_hours=windows)
        assert dl.due == expected, start
        assert dl.due.tzinfo is UTC


# -- elapsed hours: per-plan midnights ---------------------------------------------------------
@pytest.mark.parametrize("zone", ["Europe/Paris", "America/Santiago", "Australia/Lord_Howe"])
def test_elapsed_hours_in_the_contract_zone_equal_astimezone_on_every_kind_of_day(zone):
    tz = ZoneInfo(zone)
    days = [date(2026, 1, 1) + timedelta(days=d) for d in range(0, 365, 3)]
    days += [date(2026, 3, 29), date(2026, 10, 25), date(2026, 4, 4), date(2026, 9, 6)]
    for hours in (1, 25, 72):
        duration = Duration(hours, DurationUnit.HOURS)
        for _ in range(2):  # first computed, then from the plan's day table
            for day in days:
                for minute in (0, 30, 150, 750, 1439):
                    for fold in (0, 1):
                        start = datetime(
                            day.year, day.month, day.day, minute // 60, minute % 60, fold=fold
                        ).replace(tzinfo=tz)
                        dl = compute_deadline(start, duration, tz=zone)
                        assert dl.due == start.astimezone(UTC) + timedelta(hours=hours)
                        assert dl.due.tzinfo is UTC


# -- plans: found by the duration, then checked ------------------------------------------------
def test_a_duration_used_with_other_arguments_gets_their_plan():
    start = datetime(2026, 4, 30, 10, tzinfo=ZoneInfo("Europe/Paris"))  # Thursday
    one_day = Duration(1, DurationUnit.CALENDAR_DAYS)  # ends Friday 1 May, Labour Day
    paris = "".join(["Europe/", "Paris"])  # equal to, not the same object as, "Europe/Paris"
    for _ in range(3):
        assert compute_deadline(start, one_day).display == "2026-05-01 24:00 (Europe/Paris)"
        assert compute_deadline(start, one_day, extend=True).extended
        london = compute_deadline(start, one_day, tz="Europe/London")
        assert london.display == "2026-05-01 24:00 (Europe/London)"
        assert compute_deadline(start, one_day, tz=paris).tz == "Europe/Paris"
        hours = compute_deadline(start, one_day, business_hours="09:00-12:00")
        assert hours.business_hours is not None and not hours.extend
        assert compute_deadline(start, one_day, calendar="FR-57").calendar.spec == "FR-57"
        # durations as text read anew each time (as from each contract's terms)
        for text in ("1 day", "2 days", "3 business hours"):
            windows = "09:00-12:00" if "hours" in text else None
            for extend in (False, True):
                fresh = compute_deadline(
                    start, "".join(text), extend=extend, business_hours=windows
                )
                parsed = parse_duration(text)
                again = compute_deadline(start, parsed, extend=extend, business_hours=windows)
                assert (fresh.due, fresh.nominal_due) == (again.due, again.nominal_due)
                assert fresh.duration == parsed and fresh.extend is extend

    class Strange:  # compares with nothing: refused like any other bad zone
        def __eq__(self, other):
            raise RuntimeError("no comparison")

        __hash__ = object.__hash__

    with pytest.raises(UnknownTimeZoneError):
        compute_deadline(start, one_day, tz=Strange())


def test_a_business_day_ending_at_24_00_on_a_day_whose_offset_changes_ends_at_next_midnight():
    """Jerusalem moves from +02:00 to +03:00 at 02:00 on Friday 27 March 2026: 24:00 that day is
    Saturday 00:00 at +03:00 (it used to be refused as "hour must be in 0..23")."""
    tz = ZoneInfo("Asia/Jerusalem")
    start = datetime(2026, 3, 27, 1, 0, tzinfo=tz)
    deadline = compute_deadline(
        start, Duration(23, DurationUnit.BUSINESS_HOURS), tz="Asia/Jerusalem",
        business_hours="00:00-24:00",
    )  # fmt: skip
    assert deadline.due == datetime(2026, 3, 28, 0, 0, tzinfo=tz).astimezone(UTC)
    assert deadline.due == datetime(2026, 3, 27, 21, 0, tzinfo=UTC)
    assert local_to_utc(date(2026, 3, 27).toordinal(), 86_400_000_000, tz) == deadline.due
