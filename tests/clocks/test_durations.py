import pytest

from gdpr_vault.clocks import (
    BusinessHours,
    Duration,
    DurationUnit,
    InvalidDurationError,
    InvalidWindowsError,
    parse_duration,
    parse_windows,
)

U = DurationUnit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("48 hours", Duration(48, U.HOURS)),
        ("48 heures", Duration(48, U.HOURS)),
        ("30 days", Duration(30, U.CALENDAR_DAYS)),
        ("30 jours", Duration(30, U.CALENDAR_DAYS)),
        ("trente (30) jours calendaires", Duration(30, U.CALENDAR_DAYS)),
        ("10 business days", Duration(10, U.BUSINESS_DAYS)),
        ("10 jours ouvrés", Duration(10, U.BUSINESS_DAYS)),
        ("dix (10) jours ouvrés", Duration(10, U.BUSINESS_DAYS)),
        ("6 working days", Duration(6, U.WORKING_DAYS)),
        ("6 jours ouvrables", Duration(6, U.WORKING_DAYS)),
        ("48 business hours", Duration(48, U.BUSINESS_HOURS)),
        ("48 heures ouvrées", Duration(48, U.BUSINESS_HOURS)),
        ("48 h ouvrées", Duration(48, U.BUSINESS_HOURS)),
        ("1 month", Duration(1, U.MONTHS)),
        ("2 months", Duration(2, U.MONTHS)),
        ("1 mois", Duration(1, U.MONTHS)),
        ("un (1) mois", Duration(1, U.MONTHS)),
        ("PT48H", Duration(48, U.HOURS)),
        ("P30D", Duration(30, U.CALENDAR_DAYS)),
        ("P1M", Duration(1, U.MONTHS)),
        ("P2M", Duration(2, U.MONTHS)),
        ("  72   HEURES ", Duration(72, U.HOURS)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("unit", list(DurationUnit))
@pytest.mark.parametrize("amount", [1, 2, 48, 250])
def test_str_round_trips(unit, amount):
    duration = Duration(amount, unit)
    assert parse_duration(str(duration)) == duration


@pytest.mark.parametrize(
    "text", ["", "48", "hours", "-3 days", "0 days", "P0D", "10 weeks", "3.5 hours", "P1Y", "PT"]
)
def test_bad_duration_names_accepted_forms(text):
    with pytest.raises(InvalidDurationError, match="accepted forms"):
        parse_duration(text)


@pytest.mark.parametrize("amount", [0, -1, True, 1.5])
def test_duration_amount_must_be_positive_integer(amount):
    with pytest.raises(InvalidDurationError):
        Duration(amount, U.HOURS)


def test_parse_windows_seeds():
    assert parse_windows("09:00-12:00,14:00-18:00") == BusinessHours(((540, 720), (840, 1080)))
    assert str(parse_windows("08:30-12:00,14:00-18:00")) == "08:30-12:00,14:00-18:00"
    assert parse_windows("9h-18h").minutes_per_day == 9 * 60
    assert parse_windows("00:00-24:00").minutes_per_day == 24 * 60


@pytest.mark.parametrize(
    "text",
    [
        "",
        "09:00",
        "12:00-09:00",
        "09:00-12:00,11:00-18:00",
        "14:00-18:00,09:00-12:00",
        "25:00-26:00",
        "09:61-10:00",
        "9-12-13",
        "09:00-09:00",
    ],
)
def test_parse_windows_rejects(text):
    with pytest.raises(InvalidWindowsError):
        parse_windows(text)
