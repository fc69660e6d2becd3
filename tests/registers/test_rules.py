"""Pure completeness rules: each gap named with its article; transfers outside the EEA."""

from __future__ import annotations

from gdpr_vault.registers import rules
from gdpr_vault.registers.rules import SubprocessorFacts
from tests.registers.conftest import entry_body


def entry(**changes):
    raw = entry_body(**changes)
    raw.pop("reason")
    return rules.canonical_entry(raw)


def by_field(findings):
    return {f.field: f for f in findings}


def test_complete_entry_has_no_findings():
    assert rules.entry_findings(entry(), {}, client_ids=["cli_x"]) == []


def test_missing_fields_name_their_article():
    found = by_field(
        rules.entry_findings(
            entry(
                processing_operations=[],
                data_subject_categories=[],
                security_measures=[],
                security_testing="",
                retention="",
            ),
            client_ids=["cli_x"],
        )
    )
    assert found["processing_operations"].article == "Art. 30(2)(b)"
    assert found["data_subject_categories"].article == "Art. 30(1)(c)"
    assert found["security_measures"].article == "Art. 30(2)(d) / Art. 32(1)"
    assert found["security_testing"].article == "Art. 30(2)(d) / Art. 32(1)(d)"
    assert found["retention"].article == "Art. 30(1)(f)"
    assert all(f.severity == "error" for f in found.values())


def test_transfer_outside_eea_without_safeguard_is_an_error():
    findings = rules.entry_findings(
        entry(transfers=[{"country": "US", "recipient": "Helpdesk Inc."}]), client_ids=["c"]
    )
    assert [(f.field, f.rule, f.severity) for f in findings] == [
        ("transfers[0].safeguard", "transfer-safeguard-required", "error")
    ]
    assert "Art. 30(2)(c)" in findings[0].article


def test_transfers_inside_eea_and_with_safeguard_pass():
    ok = entry(
        transfers=[
            {"country": "NO", "recipient": "Backup AS"},
            {"country": "US", "recipient": "Helpdesk", "safeguard": "scc-2021-module-3"},
        ]
    )
    assert rules.entry_findings(ok, client_ids=["c"]) == []


def test_adequacy_claimed_for_a_country_without_decision_is_an_error():
    bad = entry(transfers=[{"country": "IN", "recipient": "Dev", "safeguard": "adequacy"}])
    assert [f.rule for f in rules.entry_findings(bad, client_ids=["c"])] == [
        "adequacy-decision-exists"
    ]


def test_subprocessor_outside_eea_needs_a_documented_safeguard():
    support = SubprocessorFacts("spr_1", "Helpdesk Inc.", "US", ("US",), None)
    linked = entry(subprocessors=[{"subprocessor_id": "spr_1", "activities": "support"}])
    findings = rules.entry_findings(linked, {"spr_1": support}, client_ids=["c"])
    assert [f.rule for f in findings] == ["transfer-safeguard-required"]
    covered = entry(
        subprocessors=[{"subprocessor_id": "spr_1"}],
        transfers=[{"country": "US", "subprocessor_id": "spr_1", "safeguard": "scc-2021-module-3"}],
    )
    assert rules.entry_findings(covered, {"spr_1": support}, client_ids=["c"]) == []


def test_hosting_outside_eea_without_transfer_is_an_error():
    findings = rules.entry_findings(entry(hosting_countries=["FR", "CA"]), client_ids=["c"])
    assert [(f.field, f.severity) for f in findings] == [("hosting_countries", "error")]


def test_eea_list_is_eu27_plus_three():
    assert len(rules.EU_MEMBER_STATES) == 27
    efta = rules.EEA_COUNTRIES - rules.EU_MEMBER_STATES
    assert efta == {"IS", "LI", "NO"}
    assert not rules.is_eea("CH") and not rules.is_eea("GB") and rules.is_eea("GR")


def test_input_errors_name_field_and_rule():
    bad = entry(hosting_countries=["XX"], transfers=[{"country": "US", "safeguard": "pinky"}])
    assert {(f, r) for f, r, _ in rules.input_errors(bad)} == {
        ("hosting_countries[0]", "iso-3166-1-alpha-2"),
        ("transfers[0].safeguard", "known-safeguard"),
    }


def test_identity_blocks():
    assert [f.field for f in rules.processor_findings({"name": "P", "contact": ""})] == [
        "processor.contact",
        "processor.dpo",
    ]
    assert (
        rules.controller_findings({"legal_name": "C", "contact": "a@b.fr", "dpo": {"x": 1}}) == []
    )


def test_diff_is_field_level():
    changes = rules.diff(entry(), entry(purposes=["paie"], retention="5 ans"))
    assert [c["field"] for c in changes] == ["purposes", "retention"]
    assert changes[0]["added"] == ["paie"] and changes[0]["removed"] == [
        "gestion du personnel du client"
    ]
