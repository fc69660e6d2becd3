"""The five seed presets: they load, they cite their seed verbatim, and they hold the clause values.

Quotes are checked against the seed contracts in ``../shared/seeds`` (beside the repository);
those tests are skipped, with the reason, when that folder is not there.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from gdpr_vault.clocks import parse_duration, parse_windows
from gdpr_vault.contracts.presets import (
    Preset,
    PresetInfo,
    UnknownPresetError,
    list_presets,
    load_preset,
)
from gdpr_vault.contracts.terms import (
    PRODUCT_DEFAULTS,
    ClockTerm,
    ContractTerms,
    TermsError,
    apply_overrides,
    effective_duration,
    iter_sources,
    load_terms,
    terms_to_dict,
)

SEEDS_DIR = Path(__file__).resolve().parents[3] / "shared" / "seeds"

EXPECTED_SEEDS = {
    "ips": "000_32d8216ebd145edb.txt",
    "omr": "001_0ca16d90d65db812.txt",
    "sibio": "002_9c059b54aedeb1cf.txt",
    "octipas": "003_77ac17d4d55d444b.txt",
    "opensafe": "004_5c0d68e6a7a01a79.txt",
}
VENDOR_IN_TEXT = {
    "ips": "Institut pour la Promotion de la Santé",
    "omr": "OMR INFOGERANCE",
    "sibio": "sibio",
    "octipas": "octipas",
    "opensafe": "OpenSafe",
}
KEYS = sorted(EXPECTED_SEEDS)

needs_seeds = pytest.mark.skipif(
    not SEEDS_DIR.is_dir(),
    reason=f"seed contracts not found at {SEEDS_DIR}: quotes cannot be checked against them",
)


def normalise(text: str) -> str:
    """Collapse whitespace: seeds are PDF extractions with hard line breaks."""
    return " ".join(text.split())


@cache
def seed_text(name: str) -> str:
    return normalise((SEEDS_DIR / name).read_text(encoding="utf-8"))


def clocks(terms: ContractTerms) -> dict[str, ClockTerm]:
    rev = terms.reversibility
    found = {
        "breach_notice": terms.breach_notice,
        "objection_window": terms.objection_window,
        "reversibility.export_deadline": rev.export_deadline,
        "reversibility.deletion_deadline": rev.deletion_deadline,
        "reversibility.delete_or_return.choice_window": rev.delete_or_return.choice_window,
    }
    if rev.integrity_check_window is not None:
        found["reversibility.integrity_check_window"] = rev.integrity_check_window
    return found


# -- catalogue ---------------------------------------------------------------------------------


def test_list_presets_gives_the_five_seed_contracts() -> None:
    infos = list_presets()
    assert all(isinstance(info, PresetInfo) for info in infos)
    assert {info.key: info.seed for info in infos} == EXPECTED_SEEDS
    assert all(info.name and info.summary for info in infos)


def test_unknown_preset_lists_the_known_keys() -> None:
    with pytest.raises(UnknownPresetError) as caught:
        load_preset("../terms")
    assert isinstance(caught.value, ValueError)
    assert caught.value.known == tuple(KEYS)
    for key in KEYS:
        assert key in str(caught.value)


def test_presets_are_cached() -> None:
    assert load_preset("opensafe") is load_preset("opensafe")


@pytest.mark.parametrize("key", KEYS)
def test_preset_loads_and_validates(key: str) -> None:
    preset = load_preset(key)
    assert isinstance(preset, Preset)
    assert preset.key == key and preset.seed == EXPECTED_SEEDS[key]
    assert isinstance(preset.terms, ContractTerms)
    assert preset.info.key == key
    # stored and reloaded terms are the same terms
    assert load_terms(terms_to_dict(preset.terms)) == preset.terms


@pytest.mark.parametrize("key", KEYS)
def test_preset_is_not_marked_as_amended(key: str) -> None:
    terms = load_preset(key).terms
    assert not any(term.overridden for term in clocks(terms).values())
    assert not terms.audit.overridden
    assert terms.amended_fields == terms.reversibility.amended_fields == ()


# -- citations -----------------------------------------------------------------------------------


@needs_seeds
@pytest.mark.parametrize("key", KEYS)
def test_preset_seed_file_is_the_vendors_contract(key: str) -> None:
    assert VENDOR_IN_TEXT[key].lower() in seed_text(EXPECTED_SEEDS[key]).lower()


@needs_seeds
@pytest.mark.parametrize("key", KEYS)
def test_every_quote_occurs_verbatim_in_its_seed(key: str) -> None:
    preset = load_preset(key)
    sources = list(iter_sources(preset.terms))
    assert sources, "a preset cites at least its business hours"
    for path, source in sources:
        assert source.seed == preset.seed, path
        assert normalise(source.quote) in seed_text(source.seed), f"{key}: {path}"
        assert len(source.quote) <= 300


@pytest.mark.parametrize("key", KEYS)
def test_every_stated_duration_cites_its_clause(key: str) -> None:
    for path, term in clocks(load_preset(key).terms).items():
        if term.duration is not None:
            assert term.source is not None, path
            assert term.source.article, path


@pytest.mark.parametrize("key", KEYS)
def test_silent_clauses_fall_back_to_the_gdpr_not_to_an_invented_number(key: str) -> None:
    for path, term in clocks(load_preset(key).terms).items():
        if term.duration is None:
            assert term.fallback, path
            assert "GDPR" in term.fallback or "Art." in term.fallback, path
            if term.fallback_duration is not None:
                parse_duration(term.fallback_duration)
                if path in PRODUCT_DEFAULTS:
                    assert term.fallback_duration == PRODUCT_DEFAULTS[path], path


@pytest.mark.parametrize("key", KEYS)
def test_client_windows_extend_and_processor_duties_do_not(key: str) -> None:
    found = clocks(load_preset(key).terms)
    assert found["objection_window"].extend is True
    assert found["reversibility.delete_or_return.choice_window"].extend is True
    assert found["breach_notice"].extend is False
    assert found["reversibility.export_deadline"].extend is False
    assert found["reversibility.deletion_deadline"].extend is False
    if "reversibility.integrity_check_window" in found:
        assert found["reversibility.integrity_check_window"].extend is True


# -- business hours and calendars -------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "windows"),
    [
        ("opensafe", "09:00-12:00,14:00-18:00"),  # Annexe B support hours
        ("omr", "08:30-12:00,14:00-18:00"),  # §1 "Heures Ouvrées"
        ("octipas", "09:00-18:00"),  # Annexe 4 §3 support
        ("sibio", "09:00-13:00,14:00-18:00"),  # §2.6.3 hotline
        ("ips", "09:00-18:00"),  # SLA annex, P2/P3 restore window
    ],
)
def test_business_hours_per_contract(key: str, windows: str) -> None:
    terms = load_preset(key).terms
    assert terms.business_hours == windows
    assert terms.calendar == "FR"
    assert terms.time_zone == "Europe/Paris"
    assert "business_hours" in terms.citations
    parse_windows(windows)


# -- opensafe (seed 004) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def opensafe() -> ContractTerms:
    return load_preset("opensafe").terms


def test_opensafe_dpa_breach_notice_72_hours_from_awareness(opensafe: ContractTerms) -> None:
    term = opensafe.breach_notice
    assert (term.duration, term.starts_at, term.extend) == ("72 hours", "awareness", False)
    assert term.source is not None and term.source.article.startswith("DPA")
    assert "72 heures" in term.source.quote
    assert opensafe.breach_notice_channel and "documentation" in opensafe.breach_notice_channel


def test_opensafe_dpa_subprocessor_objection_one_month_from_receipt(
    opensafe: ContractTerms,
) -> None:
    term = opensafe.objection_window
    assert (term.duration, term.starts_at, term.extend) == ("1 month", "notice_receipt", True)
    assert term.source is not None and term.source.article == "DPA, Sous-traitance ultérieure"
    subs = opensafe.subprocessors
    assert subs.authorisation == "general"
    assert subs.prior_written_notice is True and len(subs.notice_contents) == 3
    assert subs.objection_in_writing_with_reasons is True
    assert subs.silence_means_acceptance is True
    assert subs.processor_remains_liable is True
    assert subs.third_country_transfers == "permitted_with_safeguards"


def test_opensafe_dpa_audit_once_a_year_notified_in_advance_at_client_cost(
    opensafe: ContractTerms,
) -> None:
    audit = opensafe.audit
    assert audit.max_per_year == 1
    assert audit.advance_notice_required is True
    assert audit.advance_notice is None  # "notifié à l'avance": no period given
    assert audit.scope_limit is not None and "data-protection" in audit.scope_limit
    assert audit.cost_borne_by == "client"
    assert audit.source is not None and "un audit par an" in audit.source.quote


def test_opensafe_art_13_2_request_at_the_earliest_30_days_before_end(
    opensafe: ContractTerms,
) -> None:
    rev = opensafe.reversibility
    assert rev.request_earliest_before_end == "30 days"
    assert rev.citations["request_earliest_before_end"].article == "Art. 13.2"


def test_opensafe_art_13_2_export_period_is_not_stated(opensafe: ContractTerms) -> None:
    export = opensafe.reversibility.export_deadline
    assert export.duration is None
    assert export.fallback and "13.2" in export.fallback
    assert effective_duration(export) == PRODUCT_DEFAULTS["reversibility.export_deadline"]


def test_opensafe_art_13_3_integrity_check_10_business_days(opensafe: ContractTerms) -> None:
    rev = opensafe.reversibility
    window = rev.integrity_check_window
    assert window is not None
    assert (window.duration, window.starts_at, window.extend) == (
        "10 business days",
        "export_available",
        True,
    )
    assert window.source is not None and window.source.article == "Art. 13.3"
    assert rev.checksum == "SHA-256"


def test_opensafe_art_13_4_deletion_30_days_after_export_available(
    opensafe: ContractTerms,
) -> None:
    rev = opensafe.reversibility
    deletion = rev.deletion_deadline
    assert (deletion.duration, deletion.starts_at, deletion.extend) == (
        "30 days",
        "export_available",
        False,
    )
    assert deletion.source is not None and deletion.source.article == "Art. 13.4"
    assert rev.backups_included is True
    assert rev.legal_exclusions is not None and "logs" in rev.legal_exclusions


def test_opensafe_dpa_delete_or_return_chosen_by_client_within_2_months_of_termination_notice(
    opensafe: ContractTerms,
) -> None:
    dor = opensafe.reversibility.delete_or_return
    assert dor.chosen_by == "client"
    assert set(dor.options) == {"restitution", "destruction"}
    window = dor.choice_window
    assert (window.duration, window.starts_at, window.extend) == (
        "2 months",
        "termination_notice",
        True,
    )


def test_opensafe_dpa_written_justification_of_destruction(opensafe: ContractTerms) -> None:
    assert opensafe.reversibility.certificate == "always"


# -- ips (seed 000) ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ips() -> ContractTerms:
    return load_preset("ips").terms


def test_ips_art_41_breach_notice_48_hours_by_email_with_documentation(ips: ContractTerms) -> None:
    term = ips.breach_notice
    assert (term.duration, term.starts_at, term.extend) == ("48 hours", "awareness", False)
    assert term.source is not None and term.source.article == "Art. 41"
    assert ips.breach_notice_channel is not None
    assert "e-mail" in ips.breach_notice_channel and "documentation" in ips.breach_notice_channel


def test_ips_art_31_5_export_30_days_from_receipt_of_request(ips: ContractTerms) -> None:
    rev = ips.reversibility
    export = rev.export_deadline
    assert (export.duration, export.starts_at, export.extend) == (
        "30 days",
        "request_receipt",
        False,
    )
    assert export.source is not None and export.source.article == "Art. 31.5"
    assert rev.request_form is not None and "registered letter" in rev.request_form
    assert rev.delete_or_return.options == ("restitution",)
    assert rev.delete_or_return.chosen_by is None


def test_ips_art_4_and_40_subprocessing_allowed_processor_stays_liable(ips: ContractTerms) -> None:
    subs = ips.subprocessors
    assert subs.authorisation == "general"
    assert subs.processor_remains_liable is True
    assert subs.prior_written_notice is None  # the seed sets no notice procedure
    rma = [named for named in subs.named if named.name == "Ressources Mutuelles Assistance"]
    assert len(rma) == 1
    assert rma[0].registration == "SIREN 444 269 682"
    assert rma[0].source.article == "Art. 40"


def test_ips_art_41_no_transfer_outside_the_eu(ips: ContractTerms) -> None:
    assert ips.subprocessors.third_country_transfers == "prohibited"


def test_ips_objection_window_is_silent_and_falls_back(ips: ContractTerms) -> None:
    term = ips.objection_window
    assert term.duration is None
    assert term.fallback is not None and "Art. 28(2)" in term.fallback
    assert effective_duration(term) == "1 month"


def test_ips_audit_allowed_without_contractual_limit(ips: ContractTerms) -> None:
    audit = ips.audit
    assert audit.source is not None and audit.source.article == "Art. 41"
    assert audit.max_per_year is None and audit.cost_borne_by is None


# -- omr (seed 001) ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def omr() -> ContractTerms:
    return load_preset("omr").terms


def test_omr_art_23_export_60_days_from_receipt_of_request(omr: ContractTerms) -> None:
    export = omr.reversibility.export_deadline
    assert (export.duration, export.starts_at, export.extend) == (
        "60 days",
        "request_receipt",
        False,
    )
    assert export.source is not None and export.source.article == "Art. 23"


def test_omr_art_23_restitution_or_destruction_at_the_clients_choice(omr: ContractTerms) -> None:
    dor = omr.reversibility.delete_or_return
    assert dor.chosen_by == "client"
    assert set(dor.options) == {"restitution", "destruction"}
    assert dor.choice_window.duration is None and dor.choice_window.fallback


def test_omr_art_23_no_data_kept_after_hand_over(omr: ContractTerms) -> None:
    deletion = omr.reversibility.deletion_deadline
    assert deletion.duration is None and deletion.starts_at == "export_delivery"
    assert deletion.source is not None and "remise des données" in deletion.source.quote
    with pytest.raises(TermsError):
        effective_duration(deletion)


def test_omr_art_23_recovery_cost(omr: ContractTerms) -> None:
    assert omr.reversibility.cost is not None and "2,500" in omr.reversibility.cost


@pytest.mark.parametrize("key", ["omr", "sibio", "octipas"])
def test_contracts_without_breach_clause_use_gdpr_art_33_and_product_default(key: str) -> None:
    term = load_preset(key).terms.breach_notice
    assert term.duration is None and term.source is None
    assert term.fallback is not None and "Art. 33(2)" in term.fallback
    assert effective_duration(term) == PRODUCT_DEFAULTS["breach_notice"]


@pytest.mark.parametrize("key", ["omr", "sibio", "octipas"])
def test_contracts_without_audit_or_subprocessing_clause_say_so(key: str) -> None:
    terms = load_preset(key).terms
    assert terms.audit.source is None and terms.audit.fallback
    assert "28(3)(h)" in terms.audit.fallback
    assert terms.subprocessors.fallback and terms.subprocessors.authorisation is None


# -- amendments on a preset -----------------------------------------------------------------------


def test_amending_a_preset_leaves_the_cached_preset_unchanged() -> None:
    preset = load_preset("opensafe")
    amended = apply_overrides(preset.terms, {"breach_notice": {"duration": "24 hours"}})
    assert amended.breach_notice.duration == "24 hours"
    assert amended.breach_notice.source is None and amended.breach_notice.overridden
    assert load_preset("opensafe").terms.breach_notice.duration == "72 hours"


def test_amending_a_preset_with_an_unknown_term_names_it() -> None:
    with pytest.raises(TermsError) as caught:
        apply_overrides(load_preset("ips").terms, {"reversibility": {"export_days": 45}})
    assert (caught.value.field, caught.value.rule) == ("reversibility.export_days", "unknown_field")
