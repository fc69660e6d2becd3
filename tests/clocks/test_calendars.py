"""Holiday calendars (holidays package), Alsace-Moselle, closing days and art. 642 extension."""

from datetime import date, timedelta

import pytest

from gdpr_vault.clocks import (
    Calendar,
    ClosingDay,
    InvalidClosingDaysError,
    UnknownCalendarError,
    compute_deadline,
    get_calendar,
)

from .conftest import paris


def test_national_holidays_come_from_the_holidays_package():
    fr = get_calendar("FR")
    assert fr.holiday(date(2026, 5, 1)) == "Labor Day"
    assert fr.holiday(date(2026, 5, 14)) == "Ascension Day"
    assert fr.holiday(date(2026, 4, 3)) is None  # Good Friday: not national
    assert fr.holiday(date(2026, 12, 26)) is None


@pytest.mark.parametrize("spec", ["FR-57", "FR-67", "FR-68", "fr-57"])
def test_alsace_moselle_adds_good_friday_and_26_december(spec):
    cal = get_calendar(spec)
    assert cal.holiday(date(2026, 4, 3)) == "Good Friday"
    assert cal.holiday(date(2026, 12, 26)) is not None
    assert not cal.is_business_day(date(2026, 4, 3))


@pytest.mark.parametrize("spec", ["DE", "FR-75", "", "Alsace"])
def test_unknown_calendar(spec):
    with pytest.raises(UnknownCalendarError, match="supported: FR, FR-57, FR-67, FR-68"):
        compute_deadline(paris(2026, 1, 5), "1 day", calendar=spec)


def test_calendars_are_cached_and_comparable():
    assert get_calendar("FR") is get_calendar("FR")
    assert Calendar("FR-57") == get_calendar("FR-57")
    assert Calendar("FR") != Calendar("FR-57")


def test_closing_days_skip_business_days_and_are_explained():
    bridge = ClosingDay(date(2026, 5, 15), "Ascension bridge")
    dl = compute_deadline(paris(2026, 5, 13, 10), "2 business days", closing_days=[bridge])
    # Thursday 14 Ascension, Friday 15 bridge, weekend → Monday 18, Tuesday 19
    assert dl.due_date_local == date(2026, 5, 19)
    text = "\n".join(dl.explanation)
    assert "closing day: Ascension bridge" in text
    assert "Ascension Day" in text
    assert dl.to_dict()["closing_days"] == [{"date": "2026-05-15", "label": "Ascension bridge"}]


def test_closing_days_accept_mapping_tuples_and_dates():
    cal = get_calendar("FR", {date(2026, 8, 14): "Summer"})
    assert cal.closure(date(2026, 8, 14)) == "closing day: Summer"
    cal2 = get_calendar("FR", [(date(2026, 8, 14), "Summer"), date(2026, 8, 13)])
    assert cal2.closure(date(2026, 8, 13)) == "closing day: closing day"
    with pytest.raises(InvalidClosingDaysError):
        get_calendar("FR", ["2026-08-14"])


def test_long_closure_pushes_business_days():
    closure = [ClosingDay(date(2026, 8, 1) + timedelta(days=i), "August") for i in range(31)]
    dl = compute_deadline(paris(2026, 7, 30, 12), "3 jours ouvrés", closing_days=closure)
    assert dl.due_date_local == date(2026, 9, 2)  # Fri 31 July, then Tue 1 and Wed 2 Sep


# -- art. 642 extension -------------------------------------------------------------------
# (event, duration, calendar, expected end date with extension)
EXTENSIONS = [
    # ends Saturday → Monday
    (date(2026, 6, 5), "1 day", "FR", date(2026, 6, 8)),
    # ends Saturday 4 April 2026 → Easter Monday 6 April → Tuesday 7
    (date(2026, 3, 4), "1 mois", "FR", date(2026, 4, 7)),
    # ends Saturday 23 May 2026 → Whit Monday 25 May → Tuesday 26
    (date(2026, 4, 23), "1 mois", "FR", date(2026, 5, 26)),
    # ends on 1 May (Friday) → Monday 4 May
    (date(2026, 4, 1), "1 mois", "FR", date(2026, 5, 4)),
    # ends on 8 May (Friday) → Monday 11 May
    (date(2026, 4, 8), "30 days", "FR", date(2026, 5, 11)),
    # ends on Ascension (Thursday 14 May 2026) → Friday 15
    (date(2026, 4, 14), "1 mois", "FR", date(2026, 5, 15)),
    # ends on 14 July (Tuesday) → Wednesday 15
    (date(2026, 6, 14), "1 mois", "FR", date(2026, 7, 15)),
    # ends on 15 August 2026 (Saturday) → Monday 17
    (date(2026, 7, 15), "1 mois", "FR", date(2026, 8, 17)),
    # ends on 1 November 2026 (Sunday) → Monday 2
    (date(2026, 10, 1), "1 mois", "FR", date(2026, 11, 2)),
    # ends on 11 November 2026 (Wednesday) → Thursday 12
    (date(2026, 10, 11), "1 mois", "FR", date(2026, 11, 12)),
    # ends on Christmas 2026 (Friday) → Monday 28 nationally …
    (date(2026, 11, 25), "1 mois", "FR", date(2026, 12, 28)),
    # … and in Moselle too (26 December is a Saturday anyway)
    (date(2026, 11, 25), "1 mois", "FR-57", date(2026, 12, 28)),
    # ends Christmas 2025 (Thursday): FR → Friday 26; Alsace-Moselle → Monday 29
    (date(2025, 11, 25), "1 mois", "FR", date(2025, 12, 26)),
    (date(2025, 11, 25), "1 mois", "FR-67", date(2025, 12, 29)),
    # ends Good Friday 3 April 2026: FR unchanged; FR-68 → Tuesday 7 (Easter Monday)
    (date(2026, 3, 3), "1 mois", "FR", date(2026, 4, 3)),
    (date(2026, 3, 3), "1 mois", "FR-68", date(2026, 4, 7)),
    # working days can end on a Saturday: art. 642 moves it to Monday
    (date(2026, 6, 5), "1 jour ouvrable", "FR", date(2026, 6, 8)),
    # elapsed hours ending on a Sunday → end of Monday
    (date(2026, 6, 5), "48 hours", "FR", date(2026, 6, 8)),
]


@pytest.mark.parametrize(("event", "duration", "spec", "expected"), EXTENSIONS)
def test_extension_moves_to_next_working_day(event, duration, spec, expected):
    start = paris(event.year, event.month, event.day, 10)
    dl = compute_deadline(start, duration, calendar=spec, extend=True)
    assert dl.due_date_local == expected
    assert dl.display == f"{expected.isoformat()} 24:00 (Europe/Paris)"
    plain = compute_deadline(start, duration, calendar=spec, extend=False)
    assert dl.extended == (plain.due != dl.due)
    assert plain.nominal_due == dl.nominal_due
    if dl.extended:
        assert any(
            line.startswith("Extension (art. 642): the period would end") for line in dl.explanation
        )
