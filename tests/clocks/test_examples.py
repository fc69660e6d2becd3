"""Worked examples of DOMAIN.md ("Clocks and calendars") and the seed contracts' clauses."""

from datetime import UTC, date, datetime, timedelta

import pytest

from gdpr_vault.clocks import compute_deadline, default_extension

from .conftest import PARIS, paris

SEED_004_SUPPORT = "09:00-12:00,14:00-18:00"  # seed 004 Annexe B: 9 h-12 h / 14 h-18 h CET
SEED_001_HEURES_OUVREES = "08:30-12:00,14:00-18:00"  # seed 001 §1: Heures Ouvrées
SEED_003_SUPPORT = "09:00-18:00"  # seed 003 Annexe 4 §3: lundi au vendredi de 9h à 18h


def _local_end(deadline):
    return deadline.due_date_local, deadline.display


# -- elapsed hours ---------------------------------------------------------------------------
def test_domain_48_hours_across_spring_forward():
    dl = compute_deadline(paris(2026, 3, 28, 22, 30), "48 hours")
    assert dl.due == datetime(2026, 3, 30, 21, 30, tzinfo=UTC)
    assert dl.due_local == paris(2026, 3, 30, 23, 30)
    assert dl.due_local.utcoffset() == timedelta(hours=2)
    assert dl.to_dict()["deadline"] == "2026-03-30T21:30:00Z"


def test_domain_72_hours_across_spring_forward():
    dl = compute_deadline(paris(2026, 3, 28, 22, 30), "72 hours")
    assert dl.due_local == paris(2026, 3, 31, 23, 30)


def test_seed_000_art_41_donnees_personnelles_breach_48_hours():
    aware = paris(2026, 10, 24, 9, 15)  # the clocks go back on 25 October 2026
    dl = compute_deadline(aware, "48 heures", clause="seed 000 Art. 41 – Données personnelles")
    assert dl.due - aware == timedelta(hours=48)
    assert dl.due_local == paris(2026, 10, 26, 8, 15)
    assert not dl.extended
    assert dl.explanation[0] == "Clause: seed 000 Art. 41 – Données personnelles."


def test_seed_004_dpa_violation_de_donnees_72_hours_no_extension():
    # aware on Thursday 30 April 2026, 10:00: 72 h ends on Sunday 3 May; the processor's own
    # obligation is not extended (default_extension("processor") is False)
    dl = compute_deadline(
        paris(2026, 4, 30, 10),
        "72 heures",
        extend=default_extension("processor"),
        clause="seed 004 DPA, Violation de données",
    )
    assert dl.due_local == paris(2026, 5, 3, 10)
    assert not dl.end_of_day


# -- calendar days and months --------------------------------------------------------------
def test_calendar_days_do_not_count_the_event_day():
    dl = compute_deadline(paris(2026, 3, 1, 23, 59), "30 days")
    assert dl.due_date_local == date(2026, 3, 31)
    assert dl.display == "2026-03-31 24:00 (Europe/Paris)"
    assert dl.due == datetime(2026, 3, 31, 21, 59, 59, 999999, tzinfo=UTC)
    assert dl.end_of_day


def test_seed_000_art_31_5_reversibilite_export_30_days():
    # request received Friday 4 December 2026 → 3 January 2027 (a Sunday), not extended
    dl = compute_deadline(
        paris(2026, 12, 4, 16), "30 jours", clause="seed 000 Art. 31.5 Réversibilité"
    )
    assert _local_end(dl) == (date(2027, 1, 3), "2027-01-03 24:00 (Europe/Paris)")


def test_seed_001_art_23_reversibilite_export_60_days():
    dl = compute_deadline(paris(2026, 9, 1, 8), "60 jours", clause="seed 001 Art. 23 Réversibilité")
    assert dl.due_date_local == date(2026, 10, 31)


def test_seed_004_art_13_4_suppression_30_calendar_days_after_export():
    dl = compute_deadline(
        paris(2026, 6, 15, 11),
        "30 jours",
        extend=default_extension("processor"),
        clause="seed 004 Art. 13.4 Suppression des Données",
    )
    assert dl.due_date_local == date(2026, 7, 15)


@pytest.mark.parametrize(
    ("event", "months", "end"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 3, 15), 1, date(2026, 4, 15)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 12, 31), 2, date(2027, 2, 28)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2099, 12, 29), 2, date(2100, 2, 28)),
    ],
)
def test_domain_months_art_641(event, months, end):
    dl = compute_deadline(datetime.combine(event, datetime.min.time(), PARIS), f"{months} mois")
    assert dl.due_date_local == end
    assert dl.display == f"{end.isoformat()} 24:00 (Europe/Paris)"


def test_seed_004_dpa_sous_traitance_ulterieure_objection_one_month_extended():
    # notice received Tuesday 31 March 2026 → 30 April (Thursday): a working day, unchanged
    dl = compute_deadline(
        paris(2026, 3, 31, 15),
        "1 mois",
        extend=default_extension("client"),
        clause="seed 004 DPA, Sous-traitance ultérieure (objection)",
    )
    assert dl.display == "2026-04-30 24:00 (Europe/Paris)"
    assert not dl.extended
    # received 1 April → 1 May (Labour Day, Friday) → Saturday, Sunday → Monday 4 May 24:00
    dl = compute_deadline(paris(2026, 4, 1, 15), "1 mois", extend=True)
    assert dl.extended
    assert dl.display == "2026-05-04 24:00 (Europe/Paris)"
    assert any("Labor Day" in line for line in dl.explanation)


# -- business days ---------------------------------------------------------------------------
def test_seed_004_art_13_3_garantie_integrite_10_business_days_from_friday():
    # export made available Friday 24 April 2026: 1 May and 8 May (Fridays) are holidays
    dl = compute_deadline(
        paris(2026, 4, 24, 9),
        "10 jours ouvrés",
        extend=default_extension("client"),
        clause="seed 004 Art. 13.3 Garantie d'intégrité",
    )
    assert dl.display == "2026-05-12 24:00 (Europe/Paris)"
    text = "\n".join(dl.explanation)
    assert "Labor Day" in text
    assert "Victory Day" in text
    assert "6 weekend day(s)" in text


def test_business_days_event_day_not_counted_even_when_business_day():
    dl = compute_deadline(paris(2026, 6, 1, 0, 5), "1 business day")  # Monday
    assert dl.due_date_local == date(2026, 6, 2)


def test_working_days_count_saturdays():
    dl = compute_deadline(paris(2026, 6, 5, 10), "6 jours ouvrables")  # Friday
    assert dl.due_date_local == date(2026, 6, 12)  # Sat 6, Mon 8 … Fri 12 (Sunday skipped)


# -- business hours --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("windows", "event", "hours", "expected"),
    [
        # seed 004 support: Friday 17:00 + 4 h = 1 h Friday + 3 h Monday 09:00-12:00
        (SEED_004_SUPPORT, paris(2026, 3, 27, 17), 4, paris(2026, 3, 30, 12)),
        # running out exactly at a window's end stays at that end (12:00, not 14:00)
        (SEED_004_SUPPORT, paris(2026, 3, 30, 9), 3, paris(2026, 3, 30, 12)),
        # Saturday event: counting starts Monday at opening
        (SEED_004_SUPPORT, paris(2026, 3, 28, 11), 4, paris(2026, 3, 30, 15)),
        # lunch-time event: starts at 14:00
        (SEED_004_SUPPORT, paris(2026, 3, 30, 12, 30), 1, paris(2026, 3, 30, 15)),
        # seed 004 8.4 P1 fix in 48 h ouvrées (7 h a day) over Easter Monday: 6 h Thursday,
        # then 6 full days ending exactly at 18:00 (not 09:00 the next day)
        (SEED_004_SUPPORT, paris(2026, 4, 2, 10), 48, paris(2026, 4, 13, 18)),
        # seed 001 Heures Ouvrées, GTR 4 h: Friday 16:00 → Monday 10:30
        (SEED_001_HEURES_OUVREES, paris(2026, 3, 27, 16), 4, paris(2026, 3, 30, 10, 30)),
        # seed 003 support 9h-18h: event before opening
        (SEED_003_SUPPORT, paris(2026, 3, 30, 7), 2, paris(2026, 3, 30, 11)),
        # after closing on the eve of 1 May (a Friday): next opening Monday 4 May
        (SEED_003_SUPPORT, paris(2026, 4, 30, 19), 24, paris(2026, 5, 6, 15)),
    ],
)
def test_business_hours_windows(windows, event, hours, expected):
    dl = compute_deadline(event, f"{hours} business hours", business_hours=windows)
    assert dl.due_local == expected
    assert dl.due == expected.astimezone(UTC)


def test_business_hours_explanation_names_start_and_skips():
    dl = compute_deadline(
        paris(2026, 3, 28, 11), "4 heures ouvrées", business_hours=SEED_004_SUPPORT
    )
    text = "\n".join(dl.explanation)
    assert "next window opening, 2026-03-30 09:00" in text
    assert "Saturday" in text
