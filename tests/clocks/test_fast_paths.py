"""The engine's shortcuts agree with the plain, obviously-right computations.

``compute_deadline`` avoids ``astimezone`` on days whose UTC offset does not change (cached
local midnights), reads the calendar's business-day tables directly, walks business hours
without a trace and builds :class:`Deadline` without calling its ``__init__``. Each shortcut is
checked here against the straightforward version, including daylight-saving days, ambiguous
and skipped wall times (``fold``), zones that change their offset at midnight, fixed offsets
and dates far outside the calendar tables.
"""

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdpr_vault.clocks import (
    Deadline,
    Duration,
    DurationUnit,
    compute_deadline,
    get_calendar,
    parse_windows,
)
from gdpr_vault.clocks.rules import (
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
