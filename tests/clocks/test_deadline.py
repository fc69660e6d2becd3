"""Result helpers, serialisation and input errors."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gdpr_vault.clocks import (
    ClockError,
    DeadlineOutOfRangeError,
    InvalidDurationError,
    MissingBusinessHoursError,
    NaiveDatetimeError,
    UnknownTimeZoneError,
    compute_deadline,
    default_extension,
)

from .conftest import paris


def test_end_of_day_overdue_only_after_the_last_instant():
    dl = compute_deadline(paris(2026, 4, 15, 10), "15 jours")
    last = paris(2026, 4, 30, 23, 59, 59, 999999)
    assert dl.due == last
    assert not dl.is_overdue(last)
    assert dl.time_left(last) == timedelta(0)
    assert dl.is_overdue(last + timedelta(microseconds=1))
    assert dl.time_left(paris(2026, 5, 1, 0, 30)) < timedelta(0)
    assert dl.due_date_local.isoformat() == "2026-04-30"
    assert dl.display == "2026-04-30 24:00 (Europe/Paris)"


def test_watching_helpers_accept_any_aware_now():
    dl = compute_deadline(paris(2026, 3, 28, 22, 30), "48 hours")
    half = datetime(2026, 3, 29, 21, 30, tzinfo=UTC)
    assert dl.fraction_elapsed(half) == pytest.approx(0.5)
    assert dl.thresholds_crossed(half) == [0.5]
    assert dl.thresholds_crossed(dl.due) == [0.5, 0.75, 0.9, 1.0]
    assert dl.thresholds_crossed(paris(2026, 3, 1)) == []
    assert dl.fraction_elapsed(paris(2026, 3, 1)) == 0.0
    assert dl.time_left(half) == timedelta(hours=24)
    assert dl.thresholds_crossed(half, thresholds=(0.25, 0.6)) == [0.25]
    with pytest.raises(NaiveDatetimeError):
        dl.is_overdue(datetime(2026, 3, 30))


def test_to_dict_is_json_with_utc_z():
    dl = compute_deadline(
        datetime(2026, 3, 28, 22, 30, tzinfo=timezone(timedelta(hours=1))),
        "48 hours",
        clause="seed 000 Art. 41",
    )
    data = json.loads(json.dumps(dl.to_dict()))
    assert data["deadline"] == "2026-03-30T21:30:00Z"
    assert data["deadline_local"] == "2026-03-30T23:30:00+02:00"
    assert data["start"] == "2026-03-28T21:30:00Z"
    assert data["duration"] == "48 hours"
    assert data["tz"] == "Europe/Paris"
    assert data["calendar"] == "FR"
    assert data["extended"] is False
    assert data["clause"] == "seed 000 Art. 41"
    assert all(isinstance(line, str) for line in data["explanation"])


def test_results_in_other_zones():
    dl = compute_deadline(datetime(2026, 3, 7, 12, tzinfo=UTC), "1 day", tz="America/New_York")
    assert dl.display == "2026-03-08 24:00 (America/New_York)"
    assert dl.due == datetime(2026, 3, 9, 3, 59, 59, 999999, tzinfo=UTC)  # EDT from 8 March


def test_naive_start_is_refused():
    with pytest.raises(NaiveDatetimeError, match="no time zone"):
        compute_deadline(datetime(2026, 3, 28, 22, 30), "48 hours")


@pytest.mark.parametrize(
    "zone",
    # the last four exist in the zone database but are not zones a contract can name:
    # "localtime" would make deadlines follow the server's own settings
    [
        "Europe/Pariss",
        "",
        "../etc/passwd",
        "Mars/Base",
        "localtime",
        "Factory",
        "posixrules",
        "right/UTC",
    ],
)
def test_unknown_zone(zone):
    with pytest.raises(UnknownTimeZoneError):
        compute_deadline(paris(2026, 3, 28), "1 day", tz=zone)


def test_business_hours_need_windows():
    with pytest.raises(MissingBusinessHoursError, match="business-hours windows"):
        compute_deadline(paris(2026, 3, 28), "4 business hours")


def test_out_of_range():
    with pytest.raises(DeadlineOutOfRangeError):
        compute_deadline(paris(9999, 12, 1), "2 months")
    with pytest.raises(DeadlineOutOfRangeError):
        compute_deadline(paris(9999, 12, 31, 12), "48 hours")


@pytest.mark.parametrize(
    "text", ["500000 business days", "PT99999999999H", "999999999999999999999 hours", "1201 months"]
)
def test_durations_beyond_a_hundred_years_are_refused_as_they_are_read(text):
    with pytest.raises(InvalidDurationError, match="hundred years"):
        compute_deadline(paris(2026, 1, 1), text)
    assert compute_deadline(paris(2026, 1, 1), "1200 months").due.year == 2126


def test_errors_are_value_errors():
    assert issubclass(ClockError, ValueError)
    with pytest.raises(ValueError):
        compute_deadline(paris(2026, 3, 28), "forever")


def test_default_extension():
    assert default_extension("client") is True
    assert default_extension("processor") is False
    with pytest.raises(ValueError):
        default_extension("auditor")  # type: ignore[arg-type]
