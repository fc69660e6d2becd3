"""The pure audit rules: proposals that cite the clause, transitions, due dates, entry names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gdpr_vault.audits import rules
from gdpr_vault.contracts.presets import load_preset
from gdpr_vault.contracts.terms import apply_overrides
from gdpr_vault.evidence.verify import entry_name_error

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OPENSAFE = load_preset("opensafe").terms
OCTIPAS = load_preset("octipas").terms
DPA_QUOTE = "dans la limite d’un audit par an"


def facts(
    start_days: int = 30, areas: tuple[str, ...] = ("security_measures",)
) -> rules.AuditFacts:
    start = NOW + timedelta(days=start_days)
    return rules.AuditFacts("aud_this", "documentary", areas, start, start + timedelta(days=3), NOW)


def other(status: str, start_days: int, requested_days: int = -10) -> rules.OtherAudit:
    return rules.OtherAudit(
        f"aud_{status}_{start_days}",
        status,
        NOW + timedelta(days=start_days),
        NOW + timedelta(days=requested_days),
    )


def test_opensafe_first_audit_is_accepted_at_the_clients_cost():
    proposal = rules.propose_decision(facts(), OPENSAFE, [], NOW)
    assert proposal.decision == "accept"
    assert any("client's cost" in c for c in proposal.conditions)
    assert proposal.clause is not None and proposal.clause.seed.startswith("004_")


def test_second_audit_in_a_rolling_year_is_refused_citing_the_clause():
    proposal = rules.propose_decision(facts(200), OPENSAFE, [other("accepted", 30)], NOW)
    assert proposal.decision == "refuse"
    (reason,) = proposal.reasons
    assert reason.rule == "max-per-year"
    assert reason.clause is not None
    assert reason.clause.article == "DPA, Audits"
    assert DPA_QUOTE in reason.clause.quote
    assert proposal.to_dict()["reasons"][0]["clause"]["seed"] == "004_5c0d68e6a7a01a79.txt"
    assert proposal.counted_audits == ("aud_accepted_30",)


@pytest.mark.parametrize(
    ("status", "start_days", "requested_days", "counted"),
    [
        ("refused", 30, -10, False),  # a refusal uses up nothing
        ("closed", -300, -400, True),  # closed 300 days before: same rolling year
        ("closed", -366, -400, False),  # more than a year apart
        ("requested", 60, -1, True),  # an earlier pending request comes first
        ("requested", 60, 1, False),  # a later pending request does not block this one
        ("in_progress", 396, -1, False),  # starts 366 days after this one
    ],
)
def test_what_counts_towards_the_yearly_limit(status, start_days, requested_days, counted):
    proposal = rules.propose_decision(
        facts(30), OPENSAFE, [other(status, start_days, requested_days)], NOW
    )
    assert (proposal.decision == "refuse") is counted


def test_scope_outside_data_protection_is_flagged_and_refused():
    proposal = rules.propose_decision(
        facts(areas=("security_measures", "pricing", "source_code")), OPENSAFE, [], NOW
    )
    assert proposal.decision == "refuse"
    assert set(proposal.flags) == {"outside-scope:pricing", "outside-scope:source_code"}
    assert proposal.reasons[0].rule == "scope-limit"
    assert "protection des données" in proposal.reasons[0].clause.quote


def test_advance_notice_without_a_period_requires_a_future_start():
    late = rules.AuditFacts(
        "aud_late", "on_site", ("backups",), NOW - timedelta(hours=1), NOW + timedelta(days=1), NOW
    )
    proposal = rules.propose_decision(late, OPENSAFE, [], NOW)
    assert [r.rule for r in proposal.reasons] == ["advance-notice"]


def test_advance_notice_period_from_an_amendment_is_counted_with_the_clock_engine():
    amended = apply_overrides(OPENSAFE, {"audit": {"advance_notice": "30 days"}})
    assert rules.propose_decision(facts(20), amended, [], NOW).decision == "refuse"
    assert rules.propose_decision(facts(40), amended, [], NOW).decision == "accept"
    assert rules.propose_decision(facts(40), amended, [], NOW).basis.startswith("audit terms set")


def test_a_silent_contract_accepts_with_the_gdpr_fallback():
    proposal = rules.propose_decision(
        facts(10, ("pricing",)), OCTIPAS, [other("accepted", 20)], NOW
    )
    assert proposal.decision == "accept"
    assert proposal.basis.startswith("contract silent on audits")


def test_transitions_name_the_rule():
    assert rules.transition_error("requested", "accept") is None
    rule, message = rules.transition_error("refused", "accept")
    assert rule == "accept-from-requested" and "refused" in message
    assert rules.transition_error("scheduled", "close")[0] == "close-from-findings-or-remediation"
    assert rules.close_error(["resolved", "open"])[0] == "findings-resolved"
    assert rules.close_error(["resolved"]) is None
    assert rules.remediate_error(["resolved"])[0] == "open-findings-required"
    assert rules.finding_transition_error("resolved", "in_progress") is not None
    assert rules.finding_transition_error("open", "resolved") is None


def test_dates():
    assert rules.dates_error(NOW, NOW) is not None
    assert rules.dates_error(NOW, NOW + timedelta(days=93)) is not None
    assert rules.dates_error(NOW, NOW + timedelta(days=5)) is None


def test_remediation_due_dates_are_product_defaults_by_severity():
    critical = rules.finding_due("critical", NOW, OPENSAFE)
    high = rules.finding_due("high", NOW, OPENSAFE)
    low = rules.finding_due("low", NOW, OPENSAFE)
    assert critical.due < high.due < low.due
    assert critical.due_date_local.isoformat() == "2026-03-16"  # 10 jours ouvrés, Paris
    assert "product default" in " ".join(critical.explanation)
    due = rules.decision_due(NOW, "10 business days", OPENSAFE)
    assert due.due == critical.due


@pytest.mark.parametrize(
    "text",
    ["../../etc/passwd", "/abs/path", "..\\..\\win", "C:\\x", "a/../../b", "..", "", "\x00x"],
)
def test_entry_names_never_escape_the_root(text):
    name = rules.safe_entry_name("contracts", text, "contract.json")
    assert entry_name_error(name) is None
    assert name.startswith("contracts/") and name.endswith("/contract.json")
    assert ".." not in name and "\\" not in name


def test_unsafe_names_are_reported():
    for bad in ("../x", "/x", "a\\b", "C:/x", "a//b", "a/./b"):
        assert entry_name_error(bad) is not None
