"""Pure rules: dates, durations, Art. 33(3) completeness, clocks, scoping, the CNIL structure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gdpr_vault.breaches import rules
from gdpr_vault.contracts.presets import load_preset

AWARE = datetime(2026, 3, 28, 21, 30, tzinfo=UTC)
NOW = datetime(2026, 3, 29, 9, 0, tzinfo=UTC)

COMPLETE = {
    "nature": ["confidentiality"],
    "subject_categories": ["patients"],
    "data_subjects_approx": 10,
    "data_categories": ["health"],
    "records_approx": 40,
    "contact_point": {"name": "DPO", "email": "dpo@p.example"},
    "likely_consequences": "disclosure of health data",
    "measures_taken": ["access revoked"],
}


def test_dates_refuse_future_awareness_and_awareness_before_occurrence():
    assert rules.date_errors(AWARE, AWARE - timedelta(hours=1), None, NOW) == []
    (future,) = rules.date_errors(NOW + timedelta(seconds=1), None, None, NOW)
    assert (future.field, future.rule) == ("aware_at", "not-in-future")
    (before,) = rules.date_errors(AWARE, AWARE + timedelta(minutes=1), None, NOW)
    assert (before.field, before.rule) == ("aware_at", "aware-after-occurrence")
    (ended,) = rules.date_errors(AWARE, AWARE, AWARE - timedelta(hours=1), NOW)
    assert (ended.field, ended.rule) == ("ended_at", "end-after-start")


def test_missing_items_names_each_art_33_3_item_and_its_fields():
    assert rules.missing_items(COMPLETE) == []
    gaps = rules.missing_items({})
    assert [g["item"] for g in gaps] == ["33(3)(a)", "33(3)(b)", "33(3)(c)", "33(3)(d)"]
    assert gaps[0]["fields"] == [
        "nature",
        "subject_categories",
        "data_categories",
        "data_subjects_approx",
        "records_approx",
    ]
    zero = {**COMPLETE, "data_subjects_approx": 0}
    assert rules.missing_items(zero) == []  # zero is a number, not a gap
    no_reach = {**COMPLETE, "contact_point": {"name": "DPO"}}
    assert [g["item"] for g in rules.missing_items(no_reach)] == ["33(3)(b)"]
    proposed_only = {**COMPLETE, "measures_taken": [], "measures_proposed": ["reset passwords"]}
    assert rules.missing_items(proposed_only) == []


def test_notice_period_contract_then_setting_then_product_default():
    ips = load_preset("ips").terms.breach_notice
    sibio = load_preset("sibio").terms.breach_notice
    assert rules.notice_period(ips, "24 hours", True).duration == "48 hours"
    assert rules.notice_period(ips, None, True).source == "contract"
    silent = rules.notice_period(sibio, None, True)
    assert (silent.duration, silent.source) == ("72 hours", "product_default")
    assert rules.notice_period(sibio, "36 hours", True).duration == "36 hours"
    assert rules.notice_period(None, None, False).duration == "72 hours"
    assert "no active contract" in rules.notice_period(None, None, False).clause


def test_deadline_is_exact_elapsed_hours_across_the_dst_change():
    for hours, due in ((48, "2026-03-30T21:30:00Z"), (72, "2026-03-31T21:30:00Z")):
        dl = rules.deadline(AWARE, f"{hours} hours", "Europe/Paris", "FR", None, False, "x")
        assert dl.to_dict()["deadline"] == due
        assert (dl.due - AWARE) == timedelta(hours=hours)


def test_clock_view_and_escalation_instants():
    dl = rules.deadline(AWARE, "48 hours", "Europe/Paris", "FR", None, False, "x")
    instants = rules.escalation_instants(dl.start, dl.due)
    assert [t for t, _ in instants] == [0.5, 0.75, 0.9, 1.0]
    assert instants[0][1] == AWARE + timedelta(hours=24)
    assert instants[-1][1] == dl.due
    view = rules.clock_view(dl, AWARE + timedelta(hours=36), None, None)
    assert view["status"] == "pending" and view["fraction_elapsed"] == 0.75
    assert view["time_left"] == "12h00m"
    late = rules.clock_view(dl, dl.due + timedelta(minutes=1), None, None)
    assert late["status"] == "overdue" and late["time_left"] == "-0h01m"
    done = rules.clock_view(dl, dl.due + timedelta(days=1), dl.due, 60)
    assert done["status"] == "notified_late" and done["time_left_seconds"] is None


def test_lateness_is_zero_up_to_the_deadline_then_seconds():
    due = AWARE + timedelta(hours=48)
    assert rules.lateness(due, due) == 0
    assert rules.lateness(due, due + timedelta(hours=2, minutes=30)) == 9000
    assert rules.lateness(due, due + timedelta(microseconds=1)) == 1


def test_client_facts_strip_other_clients_figures():
    facts = {
        **COMPLETE,
        "data_subjects_approx": 5000,
        "per_client": [
            {"client_id": "cli_a", "data_subjects_approx": 12, "records_approx": None},
            {"client_id": "cli_b", "data_subjects_approx": 4988, "records_approx": 9},
        ],
    }
    mine = rules.client_facts(facts, "cli_a")
    assert "per_client" not in mine and "cli_b" not in str(mine)
    assert mine["data_subjects_approx"] == 12 and mine["records_approx"] == 40
    assert mine["figures_scope"] == "client"
    other = rules.client_facts(facts, "cli_c")
    assert other["figures_scope"] == "incident" and other["data_subjects_approx"] == 5000


def test_cnil_form_has_the_form_sections_and_the_controller_clock():
    form = rules.cnil_form(
        facts={**COMPLETE, "aware_at": "2026-03-28T21:30:00Z", "cross_border": False},
        breach={"id": "brc_x", "current_version": 3, "status": "open"},
        processor_name="P",
        client={"id": "cli_a", "legal_name": "A"},
        obligation=None,
        notices=[{"phase": "initial", "sequence": 0, "sent_at": "2026-03-29T10:00:00Z"}],
    )
    assert list(form["sections"]) == [
        "organisation",
        "nature",
        "dates",
        "persons_and_records",
        "consequences",
        "measures",
        "cross_border",
        "information_of_persons",
    ]
    assert form["sections"]["dates"]["controller_informed_at"] == "2026-03-29T10:00:00Z"
    assert form["missing_art_33_3"] == []
    controller = rules.controller_deadline(
        datetime(2026, 3, 29, 10, tzinfo=UTC), "Europe/Paris", "FR"
    )
    assert controller.to_dict()["deadline"] == "2026-04-01T10:00:00Z"
