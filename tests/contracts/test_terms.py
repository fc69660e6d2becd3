"""Contract clause terms: structure, semantic validation, amendments and serialisation.

These tests use small self-made terms rather than the presets, so a preset edit cannot hide a
validation bug (the presets have their own tests in test_presets.py).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec
import pytest

from gdpr_vault.contracts.terms import (
    DEFAULT_EXTEND,
    ClockTerm,
    ContractTerms,
    Source,
    TermsError,
    apply_overrides,
    effective_duration,
    iter_sources,
    load_terms,
    terms_to_dict,
)

SEED = "999_test.txt"


def src(article: str, quote: str = "une citation") -> dict[str, str]:
    return {"seed": SEED, "article": article, "quote": quote}


def base_data() -> dict[str, Any]:
    """A complete, valid contract: a few stated terms, the rest silent with fallbacks."""
    return {
        "business_hours": "09:00-12:00,14:00-18:00",
        "breach_notice": {
            "duration": "48 hours",
            "starts_at": "awareness",
            "source": src("Art. 41"),
        },
        "breach_notice_channel": "e-mail",
        "objection_window": {
            "duration": "1 month",
            "starts_at": "notice_receipt",
            "source": src("DPA"),
        },
        "subprocessors": {
            "authorisation": "general",
            "processor_remains_liable": True,
            "citations": {
                "authorisation": src("Art. 4"),
                "processor_remains_liable": src("Art. 4"),
            },
        },
        "audit": {"max_per_year": 1, "cost_borne_by": "client", "source": src("DPA")},
        "reversibility": {
            "request_earliest_before_end": "30 days",
            "export_deadline": {
                "duration": None,
                "starts_at": "request_receipt",
                "fallback": "GDPR Art. 28(3)(g); product default 30 days",
                "fallback_duration": "30 days",
            },
            "integrity_check_window": {
                "duration": "10 business days",
                "starts_at": "export_available",
                "source": src("Art. 13.3"),
            },
            "deletion_deadline": {
                "duration": "30 days",
                "starts_at": "export_available",
                "source": src("Art. 13.4"),
            },
            "delete_or_return": {
                "chosen_by": "client",
                "options": ["restitution", "destruction"],
                "choice_window": {
                    "duration": "2 months",
                    "starts_at": "termination_notice",
                    "source": src("DPA"),
                },
                "source": src("DPA"),
            },
            "backups_included": True,
            "citations": {
                "request_earliest_before_end": src("Art. 13.2"),
                "backups_included": src("Art. 13.4"),
            },
        },
        "citations": {
            "business_hours": src("Annexe B"),
            "breach_notice_channel": src("Art. 41"),
        },
    }


@pytest.fixture
def terms() -> ContractTerms:
    return load_terms(base_data())


def assert_terms_error(data: dict[str, Any], field: str, rule: str) -> TermsError:
    with pytest.raises(TermsError) as caught:
        load_terms(data)
    assert (caught.value.field, caught.value.rule) == (field, rule), str(caught.value)
    return caught.value


# -- loading ----------------------------------------------------------------------------------


def test_contract_defaults_paris_time_and_french_calendar(terms: ContractTerms) -> None:
    assert terms.time_zone == "Europe/Paris"
    assert terms.calendar == "FR"


def test_art_642_extension_defaults_on_for_client_windows_off_for_processor_duties(
    terms: ContractTerms,
) -> None:
    assert terms.objection_window.extend is True
    assert terms.reversibility.integrity_check_window is not None
    assert terms.reversibility.integrity_check_window.extend is True
    assert terms.reversibility.delete_or_return.choice_window.extend is True
    assert terms.breach_notice.extend is False
    assert terms.reversibility.export_deadline.extend is False
    assert terms.reversibility.deletion_deadline.extend is False
    assert set(DEFAULT_EXTEND) == {
        "breach_notice",
        "objection_window",
        "reversibility.export_deadline",
        "reversibility.deletion_deadline",
        "reversibility.integrity_check_window",
        "reversibility.delete_or_return.choice_window",
    }


def test_explicit_extension_setting_wins_over_default() -> None:
    data = base_data()
    data["objection_window"]["extend"] = False
    assert load_terms(data).objection_window.extend is False


def test_load_terms_does_not_mutate_its_input() -> None:
    data = base_data()
    before = copy.deepcopy(data)
    load_terms(data)
    assert data == before


def test_terms_are_frozen(terms: ContractTerms) -> None:
    with pytest.raises(AttributeError):
        terms.breach_notice.duration = "1 hour"  # type: ignore[misc]


@pytest.mark.parametrize("calendar", ["FR", "FR-57", "FR-67", "FR-68"])
def test_french_and_alsace_moselle_calendars_are_accepted(calendar: str) -> None:
    data = base_data()
    data["calendar"] = calendar
    assert load_terms(data).calendar == calendar


def test_terms_error_is_a_value_error_with_a_readable_message() -> None:
    data = base_data()
    data["breach_notice"]["duration"] = "bientôt"
    error = assert_terms_error(data, "breach_notice.duration", "invalid_duration")
    assert isinstance(error, ValueError)
    assert "breach_notice.duration" in str(error) and "bientôt" in str(error)


def test_terms_must_be_an_object() -> None:
    with pytest.raises(TermsError) as caught:
        load_terms(["not", "a", "dict"])  # type: ignore[arg-type]
    assert caught.value.rule == "invalid_type"


# -- structural errors name the field ----------------------------------------------------------


def test_unknown_top_level_field() -> None:
    data = base_data()
    data["breach_notise"] = {}
    assert_terms_error(data, "breach_notise", "unknown_field")


def test_unknown_field_in_nested_choice_window() -> None:
    data = base_data()
    data["reversibility"]["delete_or_return"]["choice_window"]["days"] = 60
    assert_terms_error(data, "reversibility.delete_or_return.choice_window.days", "unknown_field")


def test_missing_clock_start_event() -> None:
    data = base_data()
    del data["breach_notice"]["starts_at"]
    assert_terms_error(data, "breach_notice.starts_at", "missing_field")


def test_unknown_clock_start_event() -> None:
    data = base_data()
    data["objection_window"]["starts_at"] = "notice_sent"
    assert_terms_error(data, "objection_window.starts_at", "invalid_type")


def test_audit_max_per_year_must_be_an_integer() -> None:
    data = base_data()
    data["audit"]["max_per_year"] = "one"
    assert_terms_error(data, "audit.max_per_year", "invalid_type")


def test_audit_cost_bearer_is_client_or_processor() -> None:
    data = base_data()
    data["audit"]["cost_borne_by"] = "auditor"
    assert_terms_error(data, "audit.cost_borne_by", "invalid_type")


def test_delete_or_return_options_are_restitution_or_destruction() -> None:
    data = base_data()
    data["reversibility"]["delete_or_return"]["options"] = ["restitution", "archive"]
    assert_terms_error(data, "reversibility.delete_or_return.options.1", "invalid_type")


def test_delete_or_return_options_do_not_repeat() -> None:
    data = base_data()
    data["reversibility"]["delete_or_return"]["options"] = ["destruction", "destruction"]
    assert_terms_error(data, "reversibility.delete_or_return.options", "invalid_value")


# -- semantic errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("breach_notice", "duration"), "72"),
        (("objection_window", "duration"), "un mois environ"),
        (("reversibility", "deletion_deadline", "duration"), "0 days"),
        (("reversibility", "export_deadline", "fallback_duration"), "asap"),
        (("reversibility", "request_earliest_before_end"), "thirty days"),
    ],
)
def test_durations_must_parse(path: tuple[str, ...], value: str) -> None:
    data = base_data()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert_terms_error(data, ".".join(path), "invalid_duration")


def test_audit_advance_notice_must_be_a_duration() -> None:
    data = base_data()
    data["audit"]["advance_notice"] = "in advance"
    assert_terms_error(data, "audit.advance_notice", "invalid_duration")


def test_french_contract_wording_is_accepted_as_duration() -> None:
    data = base_data()
    data["objection_window"]["duration"] = "un (1) mois"
    data["reversibility"]["integrity_check_window"]["duration"] = "dix (10) jours ouvrés"
    terms = load_terms(data)
    assert terms.objection_window.duration == "un (1) mois"


@pytest.mark.parametrize("zone", ["Europe/Atlantis", "localtime", "Factory", "posix/Europe/Paris"])
def test_unknown_time_zone(zone: str) -> None:
    data = base_data()
    data["time_zone"] = zone
    assert_terms_error(data, "time_zone", "unknown_time_zone")


def test_unknown_calendar() -> None:
    data = base_data()
    data["calendar"] = "DE-BY"
    assert_terms_error(data, "calendar", "unknown_calendar")


def test_business_hours_windows_must_be_valid() -> None:
    data = base_data()
    data["business_hours"] = "14:00-18:00,09:00-12:00"
    assert_terms_error(data, "business_hours", "invalid_business_hours")


def test_business_hours_duration_needs_business_hours_windows() -> None:
    data = base_data()
    data["business_hours"] = None
    del data["citations"]["business_hours"]
    data["breach_notice"]["duration"] = "48 business hours"
    assert_terms_error(data, "breach_notice.duration", "business_hours_required")


def test_silent_clock_requires_a_fallback() -> None:
    data = base_data()
    data["objection_window"] = {"duration": None, "starts_at": "notice_receipt"}
    assert_terms_error(data, "objection_window.fallback", "fallback_required")


def test_silent_clock_with_fallback_is_valid_and_keeps_no_number() -> None:
    data = base_data()
    data["breach_notice"] = {
        "duration": None,
        "starts_at": "awareness",
        "fallback": "GDPR Art. 33(2): without undue delay; product default 72 hours",
        "fallback_duration": "72 hours",
    }
    terms = load_terms(data)
    assert terms.breach_notice.duration is None
    assert effective_duration(terms.breach_notice) == "72 hours"


def test_contractual_duration_requires_its_source() -> None:
    data = base_data()
    data["breach_notice"]["source"] = None
    assert_terms_error(data, "breach_notice.source", "source_required")


def test_plain_value_requires_a_citation() -> None:
    data = base_data()
    del data["reversibility"]["citations"]["backups_included"]
    assert_terms_error(data, "reversibility.backups_included", "source_required")


def test_citation_of_a_field_that_cannot_be_cited() -> None:
    data = base_data()
    data["reversibility"]["citations"]["export_deadline"] = src("Art. 13.2")
    assert_terms_error(data, "reversibility.citations.export_deadline", "unknown_field")


def test_quote_longer_than_300_characters_is_refused() -> None:
    data = base_data()
    data["breach_notice"]["source"]["quote"] = "x" * 301
    assert_terms_error(data, "breach_notice.source.quote", "quote_too_long")


def test_empty_quote_is_refused() -> None:
    data = base_data()
    data["audit"]["source"]["quote"] = "  "
    assert_terms_error(data, "audit.source.quote", "invalid_value")


def test_audit_limits_require_a_source() -> None:
    data = base_data()
    data["audit"]["source"] = None
    assert_terms_error(data, "audit.source", "source_required")


def test_audit_silence_requires_a_fallback() -> None:
    data = base_data()
    data["audit"] = {}
    assert_terms_error(data, "audit.fallback", "fallback_required")


def test_audit_max_per_year_is_positive() -> None:
    data = base_data()
    data["audit"]["max_per_year"] = 0
    assert_terms_error(data, "audit.max_per_year", "invalid_value")


def test_subprocessing_silence_requires_a_fallback() -> None:
    data = base_data()
    data["subprocessors"] = {}
    assert_terms_error(data, "subprocessors.fallback", "fallback_required")


def test_delete_or_return_choice_requires_a_source() -> None:
    data = base_data()
    data["reversibility"]["delete_or_return"]["source"] = None
    assert_terms_error(data, "reversibility.delete_or_return.source", "source_required")


# -- amendments (overrides) ----------------------------------------------------------------------


def test_amended_breach_notice_drops_seed_source_and_is_marked(terms: ContractTerms) -> None:
    amended = apply_overrides(terms, {"breach_notice": {"duration": "24 hours"}})
    assert amended.breach_notice.duration == "24 hours"
    assert amended.breach_notice.source is None
    assert amended.breach_notice.overridden is True
    assert amended.breach_notice.starts_at == "awareness"
    # untouched terms keep their seed citation
    assert amended.objection_window.source == terms.objection_window.source
    assert amended.objection_window.overridden is False


def test_amendment_with_its_own_source_keeps_it(terms: ContractTerms) -> None:
    avenant = src("Avenant n°1, art. 2", "vingt-quatre (24) heures")
    amended = apply_overrides(terms, {"breach_notice": {"duration": "24 hours", "source": avenant}})
    assert amended.breach_notice.source == Source(**avenant)
    assert amended.breach_notice.overridden is True


def test_amendment_does_not_change_the_original(terms: ContractTerms) -> None:
    apply_overrides(terms, {"breach_notice": {"duration": "24 hours"}})
    assert terms.breach_notice.duration == "48 hours"
    assert terms.breach_notice.overridden is False


def test_amended_choice_window_marks_only_the_clock(terms: ContractTerms) -> None:
    amended = apply_overrides(
        terms, {"reversibility": {"delete_or_return": {"choice_window": {"duration": "3 months"}}}}
    )
    dor = amended.reversibility.delete_or_return
    assert dor.choice_window.duration == "3 months"
    assert dor.choice_window.overridden is True
    assert dor.overridden is False
    assert dor.source == terms.reversibility.delete_or_return.source


def test_amended_audit_limit(terms: ContractTerms) -> None:
    amended = apply_overrides(terms, {"audit": {"max_per_year": 2}})
    assert amended.audit.max_per_year == 2
    assert amended.audit.cost_borne_by == "client"
    assert amended.audit.overridden is True
    assert amended.audit.source is None


def test_amended_plain_value_is_listed_and_loses_its_citation(terms: ContractTerms) -> None:
    amended = apply_overrides(terms, {"reversibility": {"backups_included": False}})
    assert amended.reversibility.backups_included is False
    assert amended.reversibility.amended_fields == ("backups_included",)
    assert "backups_included" not in amended.reversibility.citations
    assert "request_earliest_before_end" in amended.reversibility.citations


def test_amendment_can_add_an_integrity_window_the_contract_lacked() -> None:
    data = base_data()
    data["reversibility"]["integrity_check_window"] = None
    terms = load_terms(data)
    amended = apply_overrides(
        terms,
        {
            "reversibility": {
                "integrity_check_window": {
                    "duration": "5 business days",
                    "starts_at": "export_available",
                    "extend": True,
                }
            }
        },
    )
    window = amended.reversibility.integrity_check_window
    assert window is not None and window.overridden is True and window.source is None


def test_amendment_with_unknown_field_names_it(terms: ContractTerms) -> None:
    with pytest.raises(TermsError) as caught:
        apply_overrides(terms, {"breach_notice": {"delay": "24 hours"}})
    assert (caught.value.field, caught.value.rule) == ("breach_notice.delay", "unknown_field")


def test_amendment_with_unknown_top_level_term(terms: ContractTerms) -> None:
    with pytest.raises(TermsError) as caught:
        apply_overrides(terms, {"penalties": {"rate": 3}})
    assert (caught.value.field, caught.value.rule) == ("penalties", "unknown_field")


def test_amendment_with_bad_duration(terms: ContractTerms) -> None:
    with pytest.raises(TermsError) as caught:
        apply_overrides(terms, {"objection_window": {"duration": "fifteen days"}})
    assert (caught.value.field, caught.value.rule) == (
        "objection_window.duration",
        "invalid_duration",
    )


def test_amendment_with_unknown_time_zone(terms: ContractTerms) -> None:
    with pytest.raises(TermsError) as caught:
        apply_overrides(terms, {"time_zone": "Paris"})
    assert (caught.value.field, caught.value.rule) == ("time_zone", "unknown_time_zone")


def test_amendment_of_overseas_time_zone(terms: ContractTerms) -> None:
    amended = apply_overrides(terms, {"time_zone": "America/Martinique"})
    assert amended.time_zone == "America/Martinique"
    assert amended.amended_fields == ("time_zone",)


def test_amendment_must_be_an_object(terms: ContractTerms) -> None:
    with pytest.raises(TermsError) as caught:
        apply_overrides(terms, {"breach_notice": None})
    assert caught.value.field.startswith("breach_notice")


# -- serialisation and helpers -------------------------------------------------------------------


def test_terms_round_trip_through_plain_data(terms: ContractTerms) -> None:
    data = terms_to_dict(terms)
    assert load_terms(data) == terms
    assert load_terms(json.loads(json.dumps(data))) == terms
    assert msgspec.json.decode(msgspec.json.encode(terms), type=ContractTerms) == terms


def test_amended_terms_round_trip(terms: ContractTerms) -> None:
    amended = apply_overrides(terms, {"breach_notice": {"duration": "24 hours"}})
    assert load_terms(terms_to_dict(amended)) == amended


def test_effective_duration_prefers_the_contract() -> None:
    term = ClockTerm(
        duration="48 hours", starts_at="awareness", fallback_duration="72 hours", fallback="x"
    )
    assert effective_duration(term) == "48 hours"


def test_effective_duration_without_any_duration_raises() -> None:
    term = ClockTerm(duration=None, starts_at="export_delivery", fallback="due at hand-over")
    with pytest.raises(TermsError) as caught:
        effective_duration(term)
    assert caught.value.rule == "no_duration"


def test_iter_sources_lists_every_citation_with_its_path(terms: ContractTerms) -> None:
    paths = {path for path, _ in iter_sources(terms)}
    assert "breach_notice.source" in paths
    assert "reversibility.delete_or_return.choice_window.source" in paths
    assert "reversibility.citations.backups_included" in paths
    assert "subprocessors.citations.authorisation" in paths
    assert "citations.business_hours" in paths
