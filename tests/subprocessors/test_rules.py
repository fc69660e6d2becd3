"""Pure rules: objection windows (art. 641 months, art. 642 extension), effective dates,
activation blockers, countries and transfer mechanisms."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gdpr_vault.contracts.presets import load_preset
from gdpr_vault.contracts.terms import apply_overrides
from gdpr_vault.subprocessors import rules

PARIS = ZoneInfo("Europe/Paris")
OPENSAFE = load_preset("opensafe").terms


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("received", "last_day"),
    [
        (paris(2025, 1, 31, 10), date(2025, 2, 28)),  # no 31 February: the month's last day
        (paris(2028, 1, 31, 10), date(2028, 2, 29)),  # leap year
        (paris(2026, 3, 31, 18), date(2026, 4, 30)),  # no 31 April
        (paris(2026, 3, 2, 10), date(2026, 4, 2)),  # same day number
    ],
)
def test_one_month_from_receipt_keeps_the_day_or_ends_the_month(received, last_day):
    window = rules.objection_window(received, OPENSAFE)
    assert window.due_date_local == last_day
    assert window.display == f"{last_day.isoformat()} 24:00 (Europe/Paris)"
    assert rules.earliest_effective_date(window) == last_day + timedelta(days=1)


def test_31_january_to_a_saturday_28_february_is_extended_to_monday():
    window = rules.objection_window(paris(2026, 1, 31, 9), OPENSAFE)
    assert window.nominal_due.astimezone(PARIS).date() == date(2026, 2, 28)  # a Saturday
    assert window.due_date_local == date(2026, 3, 2)
    assert window.extended
    assert rules.earliest_effective_date(window) == date(2026, 3, 3)


def test_extension_over_a_public_holiday():
    window = rules.objection_window(paris(2026, 4, 1, 10), OPENSAFE)  # 1 May: Labour Day
    assert window.due_date_local == date(2026, 5, 4)
    assert any("Labor Day" in line for line in window.explanation)


def test_extension_can_be_switched_off_by_amendment():
    terms = apply_overrides(OPENSAFE, {"objection_window": {"extend": False}})
    window = rules.objection_window(paris(2026, 4, 1, 10), terms)
    assert window.due_date_local == date(2026, 5, 1)


def test_receipt_late_in_the_evening_counts_in_the_contract_zone():
    # 23:30 UTC on 31 March is already 1 April in Paris: the window is counted from 1 April
    window = rules.objection_window(datetime(2026, 3, 31, 23, 30, tzinfo=UTC), OPENSAFE)
    assert window.due_date_local == date(2026, 5, 4)


def test_silent_contract_runs_on_the_product_fallback():
    ips = load_preset("ips").terms
    assert ips.objection_window.duration is None
    window = rules.objection_window(paris(2026, 3, 2, 10), ips)
    assert window.due_date_local == date(2026, 4, 2)
    assert "product default" in rules.window_clause(ips)
    assert "seed 004" in rules.window_clause(OPENSAFE)


def test_an_amended_window_is_explained_as_the_amendment_not_the_default_or_the_seed():
    for preset in ("ips", "opensafe"):
        amended = apply_overrides(
            load_preset(preset).terms, {"objection_window": {"duration": "15 days"}}
        )
        clause = rules.window_clause(amended)
        assert "amendment" in clause, clause
        assert "product default" not in clause and "seed" not in clause
        window = rules.objection_window(paris(2026, 3, 2, 10), amended)
        assert window.due_date_local == date(2026, 3, 17)


def test_effective_date_is_checked_against_the_window():
    window = rules.objection_window(paris(2026, 3, 2, 10), OPENSAFE)
    assert rules.effective_date_error("cli_x", date(2026, 4, 3), window, estimated=False) is None
    error = rules.effective_date_error("cli_x", date(2026, 4, 2), window, estimated=True)
    assert error is not None and error.rule == "effective-date-before-window-end"
    assert "2026-04-03" in error.detail and "estimated" in error.detail
    assert rules.earliest_after_due(window.due, "Europe/Paris") == date(2026, 4, 3)


def _position(**changes):
    base = {
        "client_id": "cli_x",
        "state": "received",
        "window_due": paris(2026, 4, 2, 23, 59, 59, 999999),
        "window_display": "2026-04-02 24:00 (Europe/Paris)",
        "open_objection": False,
        "resolution": None,
        "time_zone": "Europe/Paris",
    }
    return rules.ClientPosition(**{**base, **changes})


def test_activation_blockers():
    effective = date(2026, 4, 3)
    after = paris(2026, 4, 3, 0, 0)
    assert rules.activation_blockers(_position(), effective, after) == []
    during = {
        e.rule for e in rules.activation_blockers(_position(), effective, paris(2026, 4, 2, 23))
    }
    assert during == {"window-open", "before-effective-date"}
    objected = rules.activation_blockers(_position(open_objection=True), effective, after)
    assert [e.rule for e in objected] == ["objection-open"]
    unreceived = rules.activation_blockers(
        _position(state="notified", window_due=None), effective, after
    )
    assert [e.rule for e in unreceived] == ["window-not-started"]
    excluded = rules.activation_blockers(
        _position(resolution="client_terminates"), effective, after
    )
    assert [e.rule for e in excluded] == ["excluded"]
    assert rules.activation_blockers(_position(state="active"), effective, after)[0].rule == (
        "already-active"
    )


def test_objection_reasons_and_lateness():
    assert rules.reasons_error("") is not None
    assert rules.reasons_error("   ") is not None
    assert rules.reasons_error("no") is not None
    assert rules.reasons_error("Data must stay in France (HDS).") is None
    due = paris(2026, 4, 2, 23, 59, 59, 999999)
    assert not rules.objection_is_late(due, due)
    assert rules.objection_is_late(due + timedelta(microseconds=1), due)
    assert not rules.objection_is_late(paris(2027, 1, 1), None)


def test_countries_and_transfer_mechanisms():
    assert rules.countries_errors(["FR", "DE"], "hosting_locations") == []
    assert [f for f, _ in rules.countries_errors(["FR", "XX", "fr"], "h")] == ["h[1]", "h[2]"]
    assert rules.transfer_mechanism_error("FR", ["FR", "NO"], None) is None  # Norway: EEA
    assert "US" in rules.transfer_mechanism_error("FR", ["US"], None)
    assert rules.transfer_mechanism_error("US", ["FR"], "scc-2021-module-3") is None
    assert "unknown" in rules.transfer_mechanism_error("FR", ["FR"], "pinky-promise")
    ips = load_preset("ips").terms
    assert rules.transfers_prohibited_error("cli_x", ips, "FR", ["US"]).rule == (
        "third-country-transfer-prohibited"
    )
    assert rules.transfers_prohibited_error("cli_x", OPENSAFE, "FR", ["US"]) is None


def test_notice_content():
    facts = {
        "activities": ["hosting"],
        "legal_name": "X",
        "address": "1 rue",
        "country": "FR",
        "contact": "a@b.example",
        "effective_date": date(2026, 5, 1),
    }
    assert rules.notice_content_errors(facts) == []
    gaps = rules.notice_content_errors({**facts, "activities": [], "contact": " "})
    assert [field for field, _ in gaps] == ["activities", "contact"]


@pytest.mark.parametrize(("said", "accepted"), [(None, True), (True, True), (False, False)])
def test_silence_means_acceptance_unless_the_contract_says_otherwise(said, accepted):
    import msgspec

    terms = msgspec.structs.replace(
        OPENSAFE,
        subprocessors=msgspec.structs.replace(
            OPENSAFE.subprocessors, silence_means_acceptance=said
        ),
    )
    assert rules.silence_means_acceptance(terms) is accepted
