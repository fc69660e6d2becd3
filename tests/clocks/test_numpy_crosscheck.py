"""Business-day counts cross-checked against numpy's busday_offset over thousands of cases."""

from datetime import date

import holidays
import numpy as np
import pytest

from gdpr_vault.clocks import ClosingDay, get_calendar

CASES = 5000
SUBDIVISIONS = {"FR": None, "FR-57": "57", "FR-67": "6AE"}


def _holidays(spec: str, extra: list[date]) -> np.ndarray:
    found = holidays.country_holidays("FR", subdiv=SUBDIVISIONS[spec], years=range(2019, 2050))
    return np.array(sorted({*found, *extra}), dtype="datetime64[D]")


@pytest.mark.parametrize("spec", list(SUBDIVISIONS))
@pytest.mark.parametrize(("days_per_week", "weekmask"), [(5, "1111100"), (6, "1111110")])
@pytest.mark.parametrize("with_closing_days", [False, True])
def test_business_days_match_numpy(spec, days_per_week, weekmask, with_closing_days):
    rng = np.random.default_rng(20260328 + days_per_week)
    closing = [date(2027, 8, d) for d in range(2, 21)] + [date(2031, 5, 30)]
    calendar = get_calendar(
        spec, [ClosingDay(d, "closed") for d in closing] if with_closing_days else ()
    )
    holiday_list = _holidays(spec, closing if with_closing_days else [])

    first = np.datetime64("2020-01-01")
    events = first + rng.integers(0, 16 * 365, CASES).astype("timedelta64[D]")
    amounts = rng.integers(1, 700, CASES)
    # the event's day is not counted: the n-th open day after D is numpy's (n-1)-th open day
    # on or after D + 1 (roll="forward" moves a closed D + 1 to the first open day)
    expected = np.busday_offset(
        events + np.timedelta64(1, "D"),
        amounts - 1,
        roll="forward",
        weekmask=weekmask,
        holidays=holiday_list,
    )
    for event, amount, want in zip(
        events.tolist(), amounts.tolist(), expected.tolist(), strict=True
    ):
        got = calendar.add_open_days(event.toordinal(), amount, days_per_week)
        assert got == want.toordinal(), (spec, event, amount, days_per_week)
