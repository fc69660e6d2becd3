"""The pure rules: windows, deadlines from the clock engine, the state machine."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from gdpr_vault.contracts.presets import load_preset
from gdpr_vault.reversibility import rules


def terms(preset: str):
    return load_preset(preset).terms


def test_opensafe_request_window_refuses_an_early_request_citing_the_clause():
    t = terms("opensafe")
    end = date(2027, 12, 31)
    window = rules.request_earliest(t, end)
    assert window is not None
    assert window.display == "2027-12-02 00:00 (Europe/Paris)"
    assert "Art. 13.2" in window.clause
    with pytest.raises(rules.RuleViolation) as refused:
        rules.check_request_time(t, end, datetime(2027, 12, 1, 22, 59, tzinfo=UTC))
    assert refused.value.rule == "request-window"
    assert refused.value.kind == "invalid"
    assert "Art. 13.2" in str(refused.value)
    # 2027-12-02 00:00 Paris is 2027-12-01 23:00 UTC: from then on the request is accepted.
    rules.check_request_time(t, end, datetime(2027, 12, 1, 23, 0, tzinfo=UTC))


def test_presets_without_a_window_accept_any_request_time():
    assert rules.request_earliest(terms("ips"), date(2027, 12, 31)) is None
    rules.check_request_time(terms("omr"), date(2027, 12, 31), datetime(2020, 1, 1, tzinfo=UTC))


def test_export_deadline_ips_30_days_omr_60_days_from_request_receipt():
    received = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ips = rules.clock(terms("ips"), "export_deadline", received)
    assert ips.display == "2026-04-01 24:00 (Europe/Paris)"
    assert "Art. 31.5" in ips.clause
    omr = rules.clock(terms("omr"), "export_deadline", received)
    assert omr.display == "2026-05-01 24:00 (Europe/Paris)"
    assert "Art. 23" in omr.clause
    # OpenSafe's text states no period: the product default, labelled as such.
    opensafe = rules.clock(terms("opensafe"), "export_deadline", received)
    assert opensafe.display == "2026-04-01 24:00 (Europe/Paris)"
    assert any("30 days" in line for line in opensafe.explanation)


def test_opensafe_deletion_30_calendar_days_after_availability_and_integrity_window():
    available = datetime(2027, 12, 6, 10, 0, tzinfo=UTC)  # a Monday
    deletion = rules.clock(terms("opensafe"), "deletion_deadline", available)
    assert deletion.display == "2028-01-05 24:00 (Europe/Paris)"
    assert "Art. 13.4" in deletion.clause
    window = rules.clock(terms("opensafe"), "integrity_check_window", available)
    # 10 business days, not counting the event's day: 7-10, 13-17 December → Monday 20th.
    assert window.display == "2027-12-20 24:00 (Europe/Paris)"
    assert "Art. 13.3" in window.clause
    stored = {"integrity_check_window": window.to_dict(1)}
    assert rules.integrity_open(stored, datetime(2027, 12, 20, 22, 59, tzinfo=UTC))
    assert not rules.is_late_report(stored, datetime(2027, 12, 20, 22, 59, tzinfo=UTC))
    assert rules.is_late_report(stored, datetime(2027, 12, 20, 23, 0, tzinfo=UTC))
    run_at = rules.deletion_run_at(stored, available, confirmed=False)
    assert run_at == window.due + timedelta(microseconds=1)
    assert rules.deletion_run_at(stored, available, confirmed=True) == available


def test_omr_deletion_is_due_at_hand_over_and_waits_for_the_client():
    available = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
    deletion = rules.clock(terms("omr"), "deletion_deadline", available)
    assert deletion.due == available
    assert deletion.display == "on hand-over"
    stored = {"deletion_deadline": deletion.to_dict(1)}
    assert rules.deletion_run_at(stored, available, confirmed=False) is None


def test_choice_window_two_months_from_termination_notice_and_late_choice_flag():
    notice = datetime(2027, 10, 15, 8, 0, tzinfo=UTC)
    window = rules.clock(terms("opensafe"), "delete_or_return_choice", notice)
    assert window.display == "2027-12-15 24:00 (Europe/Paris)"
    stored = {"delete_or_return_choice": window.to_dict(1)}
    t = terms("opensafe")
    assert rules.check_choice(t, "destruction", datetime(2027, 12, 1, tzinfo=UTC), stored) is False
    assert rules.check_choice(t, "destruction", datetime(2027, 12, 16, tzinfo=UTC), stored) is True


def test_ips_offers_restitution_only():
    with pytest.raises(rules.RuleViolation) as refused:
        rules.check_choice(terms("ips"), "destruction", datetime(2026, 1, 1, tzinfo=UTC), {})
    assert refused.value.rule == "delete-or-return-options"


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("opened", "confirm"),
        ("opened", "report_anomaly"),
        ("requested", "request"),
        ("exporting", "confirm"),
        ("deleted", "request"),
        ("deleted", "start_deletion"),
        ("integrity_confirmed", "report_anomaly"),
        ("anomaly_reported", "download"),
    ],
)
def test_impossible_transitions_name_their_rule(status, action):
    with pytest.raises(rules.RuleViolation) as refused:
        rules.next_state(status, action)
    assert refused.value.rule == f"reversibility-transition:{action}"
    assert refused.value.kind == "conflict"


def test_the_happy_path_walks_the_machine():
    state = "opened"
    for action in ("request", "start_export", "export_done", "report_anomaly", "start_export"):
        state = rules.next_state(state, action)
    assert state == "exporting"
    for action in ("export_done", "confirm", "start_deletion", "deletion_done"):
        state = rules.next_state(state, action)
    assert state == "deleted"


def test_deletion_waits_for_the_window_unless_confirmed():
    window = {"integrity_check_window": {"due": "2027-12-20T22:59:59.999999Z"}}
    inside = datetime(2027, 12, 10, tzinfo=UTC)
    with pytest.raises(rules.RuleViolation) as refused:
        rules.check_deletion_allowed("export_available", None, window, inside)
    assert refused.value.rule == "reversibility-deletion:integrity-window-open"
    rules.check_deletion_allowed("integrity_confirmed", None, window, inside)
    after = datetime(2027, 12, 21, tzinfo=UTC)
    rules.check_deletion_allowed("export_available", None, window, after)
    with pytest.raises(rules.RuleViolation):
        rules.check_deletion_allowed("requested", "restitution", {}, inside)
    rules.check_deletion_allowed("requested", "destruction", {}, inside)


def test_dates_before_the_contract_started_are_refused():
    omr = terms("omr")  # Europe/Paris
    start = date(2025, 1, 1)
    with pytest.raises(rules.RuleViolation) as refused:
        rules.check_within_contract(omr, start, contract_end=date(2020, 1, 31))
    assert (refused.value.rule, refused.value.field, refused.value.kind) == (
        "before-contract-start",
        "contract_end",
        "invalid",
    )
    # 2024-12-31 23:30 UTC is 2025-01-01 00:30 in Paris: inside the contract's first day
    rules.check_within_contract(
        omr, start, events={"received_at": datetime(2024, 12, 31, 23, 30, tzinfo=UTC)}
    )
    with pytest.raises(rules.RuleViolation) as refused:
        rules.check_within_contract(
            omr, start, events={"received_at": datetime(2024, 12, 31, 22, 59, tzinfo=UTC)}
        )
    assert (refused.value.rule, refused.value.field) == ("before-contract-start", "received_at")
    rules.check_within_contract(omr, None, contract_end=date(2000, 1, 1))  # no start: no check
    rules.check_within_contract(omr, start, contract_end=start, events={"x": None})


def test_an_opened_request_window_is_open_not_overdue():
    deadlines = {
        "request_window_opens": {"due": "2027-12-01T23:00:00Z"},
        "export_deadline": {"due": "2027-12-01T23:00:00Z"},
    }
    before = rules.deadline_view(deadlines, datetime(2027, 12, 1, 22, 0, tzinfo=UTC))
    after = rules.deadline_view(deadlines, datetime(2027, 12, 2, 9, 0, tzinfo=UTC))
    assert before["request_window_opens"] == {
        **deadlines["request_window_opens"],
        "overdue": False,
        "open": False,
    }
    assert after["request_window_opens"]["open"] is True
    assert after["request_window_opens"]["overdue"] is False
    assert after["export_deadline"]["overdue"] is True and "open" not in after["export_deadline"]
