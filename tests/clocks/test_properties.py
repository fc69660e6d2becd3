"""Property-based tests (hypothesis) over random starts 2020-2035 in the zones we serve."""

import calendar as pycalendar
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from gdpr_vault.clocks import Duration, DurationUnit, compute_deadline, parse_windows

ZONES = [
    "Europe/Paris",
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "UTC",
]
WINDOWS = ["09:00-12:00,14:00-18:00", "08:30-12:00,14:00-18:00", "09:00-18:00"]
CALENDARS = ["FR", "FR-57", "FR-67", "FR-68"]
DAY_UNITS = [
    DurationUnit.CALENDAR_DAYS,
    DurationUnit.BUSINESS_DAYS,
    DurationUnit.WORKING_DAYS,
    DurationUnit.MONTHS,
]

PROPERTY = settings(max_examples=300, deadline=None)

zones = st.sampled_from(ZONES)
starts = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2035, 12, 31, 23, 59, 59),
    timezones=st.sampled_from([ZoneInfo(z) for z in ZONES]),
)
units = st.sampled_from(list(DurationUnit))


def _compute(start, unit, amount, tz, spec, windows, extend):
    return compute_deadline(
        start,
        Duration(amount, unit),
        tz=tz,
        calendar=spec,
        business_hours=windows if unit is DurationUnit.BUSINESS_HOURS else None,
        extend=extend,
    )


@PROPERTY
@given(
    start=starts,
    tz=zones,
    unit=units,
    amounts=st.tuples(st.integers(1, 400), st.integers(1, 400)),
    spec=st.sampled_from(CALENDARS),
    windows=st.sampled_from(WINDOWS),
    extend=st.booleans(),
)
def test_deadline_is_monotonic_in_the_duration(start, tz, unit, amounts, spec, windows, extend):
    # Elapsed hours with extension are the documented exception (see
    # test_extended_hours_are_not_monotonic_at_midnight): they are checked without extension.
    extend = extend and unit is not DurationUnit.HOURS
    small, large = sorted(amounts)
    if unit is DurationUnit.MONTHS:
        small, large = small % 60 + 1, large % 60 + 1
        small, large = min(small, large), max(small, large)
    a = _compute(start, unit, small, tz, spec, windows, extend)
    b = _compute(start, unit, large, tz, spec, windows, extend)
    assert a.due <= b.due
    assert a.due > start


@PROPERTY
@given(
    start=starts,
    tz=zones,
    unit=units,
    amount=st.integers(1, 200),
    spec=st.sampled_from(CALENDARS),
    windows=st.sampled_from(WINDOWS),
)
def test_extension_never_ends_on_a_skipped_day(start, tz, unit, amount, spec, windows):
    dl = _compute(start, unit, amount, tz, spec, windows, True)
    assert dl.calendar.skip_reason(dl.due_date_local, 5) is None
    assert dl.due >= dl.nominal_due
    if dl.extended:
        assert dl.end_of_day


@PROPERTY
@given(start=starts, tz=zones, hours=st.integers(1, 24 * 400))
def test_elapsed_hours_are_exact_across_dst(start, tz, hours):
    dl = compute_deadline(start, Duration(hours, DurationUnit.HOURS), tz=tz)
    assert dl.due - start == timedelta(hours=hours)
    assert not dl.end_of_day


@PROPERTY
@given(
    start=starts,
    tz=zones,
    hours=st.integers(1, 2000),
    windows=st.sampled_from(WINDOWS),
    spec=st.sampled_from(CALENDARS),
)
def test_business_hours_end_inside_a_window_on_a_business_day(start, tz, hours, windows, spec):
    dl = compute_deadline(
        start,
        Duration(hours, DurationUnit.BUSINESS_HOURS),
        tz=tz,
        calendar=spec,
        business_hours=windows,
    )
    local = dl.due_local
    assert dl.calendar.is_business_day(local.date())
    minute = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60e6
    assert any(s < minute <= e for s, e in parse_windows(windows).windows)
    # never earlier than the elapsed-hours deadline: business time is a subset of real time
    assert dl.due >= start + timedelta(hours=hours)


@PROPERTY
@given(start=starts, tz=zones, unit=st.sampled_from(DAY_UNITS), amount=st.integers(1, 400))
def test_day_deadlines_end_at_the_last_instant_of_a_local_day(start, tz, unit, amount):
    if unit is DurationUnit.MONTHS:
        amount = amount % 120 + 1
    dl = compute_deadline(start, Duration(amount, unit), tz=tz)
    zone = ZoneInfo(tz)
    after = (dl.due + timedelta(microseconds=1)).astimezone(zone)
    assert after.time() == time(0) or after.utcoffset() != dl.due_local.utcoffset()
    assert after.date() == dl.due_date_local + timedelta(days=1)
    assert dl.display == f"{dl.due_date_local.isoformat()} 24:00 ({tz})"
    event_day = start.astimezone(zone).date()
    if unit is DurationUnit.CALENDAR_DAYS:
        assert dl.due_date_local == event_day + timedelta(days=amount)
    else:
        assert dl.due_date_local > event_day


@PROPERTY
@given(
    year=st.integers(2020, 2035),
    month=st.integers(1, 12),
    months=st.integers(1, 36),
    tz=zones,
)
def test_months_agree_with_art_641_on_every_month_end(year, month, months, tz):
    for day in range(28, pycalendar.monthrange(year, month)[1] + 1):
        start = datetime(year, month, day, 12, tzinfo=ZoneInfo(tz))
        dl = compute_deadline(start, Duration(months, DurationUnit.MONTHS), tz=tz)
        index = month - 1 + months
        target_year, target_month = year + index // 12, index % 12 + 1
        last = pycalendar.monthrange(target_year, target_month)[1]
        expected = start.date().replace(year=target_year, month=target_month, day=min(day, last))
        assert dl.due_date_local == expected


def test_extended_hours_are_not_monotonic_at_midnight():
    """Documented edge: an hour deadline ending on a Saturday moves to 24:00 on Monday, while a
    longer one ending at Monday 00:00 (a working day) stays there, so it is *earlier*."""
    start = datetime(2032, 6, 1, tzinfo=ZoneInfo("Europe/Paris"))
    saturday = compute_deadline(start, Duration(264, DurationUnit.HOURS), extend=True)
    monday = compute_deadline(start, Duration(312, DurationUnit.HOURS), extend=True)
    assert saturday.display == "2032-06-14 24:00 (Europe/Paris)"
    assert monday.display == "2032-06-14 00:00 (Europe/Paris)"
    assert monday.due < saturday.due
