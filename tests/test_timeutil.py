"""Instants and dates from outside: aware, and within the range the service can compute with."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from gdpr_vault.timeutil import (
    NaiveDatetimeError,
    OutOfRangeError,
    check_date,
    check_instant,
    parse_instant,
)

PLUS_ONE = timezone(timedelta(hours=1))
MINUS_ONE = timezone(timedelta(hours=-1))


@pytest.mark.parametrize(
    "value",
    [
        datetime(1, 1, 1, tzinfo=PLUS_ONE),  # no UTC value at all: before year 1
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_ONE),  # after 9999 in UTC
        datetime(1899, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(3000, 1, 1, tzinfo=UTC),
    ],
)
def test_instants_outside_the_supported_range_are_refused_with_their_rule(value):
    with pytest.raises(OutOfRangeError) as caught:
        check_instant(value, "as_of")
    assert caught.value.field == "as_of" and caught.value.rule == "supported-range"


def test_the_range_is_closed_below_and_open_above_in_utc():
    assert check_instant(datetime(1900, 1, 1, tzinfo=UTC), "x")
    # 1900-01-01T00:30+01:00 is still 1899 in UTC
    with pytest.raises(OutOfRangeError):
        check_instant(datetime(1900, 1, 1, 0, 30, tzinfo=PLUS_ONE), "x")
    assert check_instant(datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC), "x")


def test_naive_instants_keep_their_own_rule():
    with pytest.raises(NaiveDatetimeError) as caught:
        check_instant(datetime(2026, 3, 1, 10), "start")
    assert caught.value.rule == "offset-required"


def test_dates_outside_the_range_are_refused():
    assert check_date(date(2026, 12, 31), "contract_end") == date(2026, 12, 31)
    for value in (date(1, 1, 1), date(9999, 12, 31), date(3000, 1, 1)):
        with pytest.raises(OutOfRangeError):
            check_date(value, "contract_end")


def test_parsed_instants_are_checked_too():
    assert parse_instant("2026-03-28T22:30:00+01:00", "start") == datetime(
        2026, 3, 28, 21, 30, tzinfo=UTC
    )
    with pytest.raises(OutOfRangeError):
        parse_instant("0001-01-01T00:00:00+01:00", "start")
