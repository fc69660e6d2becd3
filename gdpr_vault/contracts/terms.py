"""A contract's clause terms as typed, validated data.

Why this module exists: every clock, audit decision and reversibility step in the product depends
on what the client's contract says (48 hours or 72 hours, one month to object, one audit a year…).
Reading those values out of loose dicts spreads guesses around the code base; here they become
frozen :mod:`msgspec` structs that are checked once, when they are loaded.

Three rules shape the data:

* **Every value says where it comes from.** A :class:`Source` cites the seed file, the article and
  a short exact quote, so a DPO can check the clause and an auditor can see why a clock ran.
* **Silence is explicit.** When a contract says nothing about a term, ``duration`` is ``None`` and
  ``fallback`` states the rule that applies instead (the GDPR article and the product default);
  a number is never invented and passed off as the contract's.
* **Amendments are visible.** :func:`apply_overrides` marks what it changed (``overridden`` /
  ``amended_fields``) and drops the seed citation of a changed value, because the seed no longer
  proves it.

Durations, calendars and business hours are validated with :mod:`gdpr_vault.clocks`, the engine
that will later compute the deadlines, so a preset that loads is a preset the engine can run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import msgspec

from gdpr_vault.clocks import (
    DurationUnit,
    UnknownTimeZoneError,
    get_calendar,
    parse_duration,
    parse_windows,
)
from gdpr_vault.clocks.zones import get_zone

__all__ = [
    "DEFAULT_EXTEND",
    "PRODUCT_DEFAULTS",
    "AuditTerm",
    "ClockTerm",
    "ContractTerms",
    "DeleteOrReturnTerm",
    "NamedSubprocessor",
    "ReversibilityTerm",
    "Source",
    "StartEvent",
    "SubprocessorTerm",
    "TermsError",
    "apply_overrides",
    "effective_duration",
    "iter_sources",
    "load_terms",
    "terms_to_dict",
]

#: The event a clock counts from. Receipt, not sending, starts client-side windows (DOMAIN.md).
StartEvent = Literal[
    "awareness",  # the processor became aware of a personal-data breach
    "notice_receipt",  # the client received a notice (e.g. of a new sub-processor)
    "request_receipt",  # the processor received the client's request (e.g. for its data)
    "export_available",  # the end-of-contract export was made available to the client
    "export_delivery",  # the data was handed over to the client
    "termination_notice",  # the termination of the contract was notified
    "contract_end",  # the contract expired or its termination took effect
]

DeleteOrReturnOption = Literal["restitution", "destruction"]

MAX_QUOTE_CHARS = 300

#: Art. 642 extension defaults when a term does not say (DOMAIN.md, "Extension"): on for periods
#: granted to the client to act, off for the processor's own obligations (protective reading).
DEFAULT_EXTEND: Mapping[str, bool] = {
    "breach_notice": False,
    "objection_window": True,
    "reversibility.export_deadline": False,
    "reversibility.deletion_deadline": False,
    "reversibility.integrity_check_window": True,
    "reversibility.delete_or_return.choice_window": True,
}

#: Durations the product runs a clock with when the contract is silent. Presets quote them in
#: their ``fallback_duration`` so a silent contract still gets a clock, labelled as a default.
PRODUCT_DEFAULTS: Mapping[str, str] = {
    "breach_notice": "72 hours",
    "objection_window": "1 month",
    "reversibility.export_deadline": "30 days",
    "reversibility.deletion_deadline": "30 days",
}


class TermsError(ValueError):
    """Contract terms that cannot be used; ``field`` is a dotted path, ``rule`` the broken rule.

    Rules: ``unknown_field``, ``missing_field``, ``invalid_type``, ``invalid_duration``,
    ``unknown_calendar``, ``unknown_time_zone``, ``invalid_business_hours``,
    ``business_hours_required``, ``fallback_required``, ``source_required``, ``quote_too_long``,
    ``invalid_value``, ``no_duration``.
    """

    def __init__(self, field: str, rule: str, message: str) -> None:
        self.field = field
        self.rule = rule
        self.message = message
        super().__init__(f"{field or '<terms>'}: {message} [{rule}]")


class _Base(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Common settings: immutable, strict about unknown keys (a typo must not be ignored)."""


class Source(_Base, kw_only=True):
    """Where a value comes from: seed file, article, and a short exact French quote."""

    seed: str
    article: str
    quote: str


class ClockTerm(_Base, kw_only=True):
    """A contractual period: how long, from which event, and whether art. 642 extends it.

    ``duration`` is text :func:`gdpr_vault.clocks.parse_duration` accepts, or ``None`` when the
    contract is silent; then ``fallback`` says what applies instead and ``fallback_duration``
    (optional) is the product's default clock.
    """

    duration: str | None = None
    starts_at: StartEvent
    extend: bool = False
    source: Source | None = None
    fallback: str | None = None
    fallback_duration: str | None = None
    overridden: bool = False


class AuditTerm(_Base, kw_only=True):
    """Limits the contract puts on the client's audits (GDPR Art. 28(3)(h))."""

    max_per_year: int | None = None
    advance_notice_required: bool | None = None
    advance_notice: str | None = None
    scope_limit: str | None = None
    cost_borne_by: Literal["client", "processor"] | None = None
    source: Source | None = None
    fallback: str | None = None
    overridden: bool = False


class DeleteOrReturnTerm(_Base, kw_only=True):
    """Who chooses between restitution and destruction at the end, and within what period."""

    chosen_by: Literal["client"] | None = None
    options: tuple[DeleteOrReturnOption, ...] = ()
    choice_window: ClockTerm
    source: Source | None = None
    fallback: str | None = None
    overridden: bool = False


class ReversibilityTerm(_Base, kw_only=True):
    """End-of-contract export and deletion (GDPR Art. 28(3)(g)).

    Plain values (request window, format, backups…) are cited in ``citations`` under their
    field name; clocks carry their own ``source``.
    """

    request_earliest_before_end: str | None = None
    request_form: str | None = None
    export_deadline: ClockTerm
    export_format: str | None = None
    checksum: str | None = None
    integrity_check_window: ClockTerm | None = None
    deletion_deadline: ClockTerm
    delete_or_return: DeleteOrReturnTerm
    backups_included: bool | None = None
    certificate: Literal["on_request", "always"] | None = None
    legal_exclusions: str | None = None
    cost: str | None = None
    citations: dict[str, Source] = msgspec.field(default_factory=dict)
    amended_fields: tuple[str, ...] = ()


class NamedSubprocessor(_Base, kw_only=True):
    """A sub-processor the contract itself names (e.g. seed 000 Art. 40)."""

    name: str
    registration: str | None = None
    address: str | None = None
    activity: str | None = None
    source: Source


class SubprocessorTerm(_Base, kw_only=True):
    """Rules for engaging sub-processors (GDPR Art. 28(2), 28(4)); the window is separate.

    ``fallback`` is required when the contract says nothing at all about sub-processing.
    """

    authorisation: Literal["general", "specific"] | None = None
    prior_written_notice: bool | None = None
    notice_contents: tuple[str, ...] = ()
    objection_in_writing_with_reasons: bool | None = None
    silence_means_acceptance: bool | None = None
    processor_remains_liable: bool | None = None
    third_country_transfers: Literal["prohibited", "permitted_with_safeguards"] | None = None
    named: tuple[NamedSubprocessor, ...] = ()
    citations: dict[str, Source] = msgspec.field(default_factory=dict)
    fallback: str | None = None
    amended_fields: tuple[str, ...] = ()


class ContractTerms(_Base, kw_only=True):
    """Everything the product reads from one contract; load it with :func:`load_terms`."""

    time_zone: str = "Europe/Paris"
    calendar: str = "FR"
    business_hours: str | None = None
    breach_notice: ClockTerm
    breach_notice_channel: str | None = None
    objection_window: ClockTerm
    subprocessors: SubprocessorTerm
    audit: AuditTerm
    reversibility: ReversibilityTerm
    citations: dict[str, Source] = msgspec.field(default_factory=dict)
    amended_fields: tuple[str, ...] = ()


# -- loading and validation -------------------------------------------------------------------

_CITED_FIELDS: Mapping[type[msgspec.Struct], tuple[str, ...]] = {
    ContractTerms: ("business_hours", "breach_notice_channel"),
    ReversibilityTerm: (
        "request_earliest_before_end",
        "request_form",
        "export_format",
        "checksum",
        "backups_included",
        "certificate",
        "legal_exclusions",
        "cost",
    ),
    SubprocessorTerm: (
        "authorisation",
        "prior_written_notice",
        "notice_contents",
        "objection_in_writing_with_reasons",
        "silence_means_acceptance",
        "processor_remains_liable",
        "third_country_transfers",
    ),
}
"""Plain fields whose value must be cited in the struct's ``citations`` (or amended)."""

_CITABLE_EXTRA: Mapping[type[msgspec.Struct], tuple[str, ...]] = {
    ContractTerms: ("time_zone", "calendar"),
}
"""Fields that may be cited but have product defaults, so a citation is optional."""

_PATH_RE = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_UNKNOWN_RE = re.compile(r"unknown field `(?P<name>[^`]+)`")
_MISSING_RE = re.compile(r"missing required field `(?P<name>[^`]+)`")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _error_from_msgspec(exc: msgspec.ValidationError) -> TermsError:
    """Turn msgspec's ``… - at `$.a.b``` message into a TermsError with a dotted field path."""
    text = str(exc)
    match = _PATH_RE.match(text)
    message = match.group("msg") if match else text
    raw = (match.group("path") or "") if match else ""
    path = raw.lstrip(".")
    path = re.sub(r"\[(\d+)\]", r".\1", path).replace("[", ".").replace("]", "")
    path = re.sub(r"\.'([^']*)'", r".\1", path).replace("'", "").replace('"', "")
    unknown = _UNKNOWN_RE.search(message)
    if unknown:
        return TermsError(_join(path, unknown.group("name")), "unknown_field", message)
    missing = _MISSING_RE.search(message)
    if missing:
        return TermsError(_join(path, missing.group("name")), "missing_field", message)
    return TermsError(path, "invalid_type", message)


def _fill_extend_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """Copy ``data`` with ``extend`` set on each clock that does not state it (DEFAULT_EXTEND)."""
    result = _deep_copy(data)
    for dotted, default in DEFAULT_EXTEND.items():
        node: Any = result
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict):
            node.setdefault("extend", default)
    return result


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def load_terms(data: Mapping[str, Any]) -> ContractTerms:
    """Build :class:`ContractTerms` from plain data (JSON, a preset, the API) and check them.

    Structural checks come from msgspec (types, unknown and missing keys); semantic ones from
    the clock engine (durations, calendar, business hours) and :mod:`zoneinfo`. Anything wrong
    raises :class:`TermsError` naming the dotted ``field`` and the ``rule`` broken.
    """
    if not isinstance(data, Mapping):
        raise TermsError("", "invalid_type", f"terms must be an object, got {type(data).__name__}")
    prepared = _fill_extend_defaults(dict(data))
    try:
        terms = msgspec.convert(prepared, ContractTerms, strict=True)
    except msgspec.ValidationError as exc:
        raise _error_from_msgspec(exc) from exc
    _validate(terms)
    return terms


def _check_duration(value: str, field: str, business_hours: str | None) -> None:
    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        raise TermsError(field, "invalid_duration", str(exc)) from exc
    if parsed.unit is DurationUnit.BUSINESS_HOURS and business_hours is None:
        raise TermsError(
            field,
            "business_hours_required",
            f"{value!r} counts business hours but the terms define no business_hours",
        )


def _check_source(source: Source, field: str) -> None:
    for name in ("seed", "article", "quote"):
        if not getattr(source, name).strip():
            raise TermsError(f"{field}.{name}", "invalid_value", f"source {name} is empty")
    if len(source.quote) > MAX_QUOTE_CHARS:
        raise TermsError(
            f"{field}.quote",
            "quote_too_long",
            f"quote has {len(source.quote)} characters; keep it under {MAX_QUOTE_CHARS}",
        )


def _check_clock(term: ClockTerm, field: str, business_hours: str | None) -> None:
    if term.source is not None:
        _check_source(term.source, f"{field}.source")
    if term.duration is not None:
        _check_duration(term.duration, f"{field}.duration", business_hours)
        if term.source is None and not term.overridden:
            raise TermsError(
                f"{field}.source",
                "source_required",
                "a contractual duration must cite its clause (or be marked overridden)",
            )
    elif not (term.fallback and term.fallback.strip()):
        raise TermsError(
            f"{field}.fallback",
            "fallback_required",
            "duration is null (contract silent): state the rule that applies instead",
        )
    if term.fallback_duration is not None:
        _check_duration(term.fallback_duration, f"{field}.fallback_duration", business_hours)


def _is_set(value: object) -> bool:
    return value is not None and value != () and value != ""


def _check_citations(struct: msgspec.Struct, field: str) -> None:
    """Each set plain field is cited under its own name, unless an amendment set it."""
    kind = type(struct)
    cited = _CITED_FIELDS[kind]
    allowed = set(cited) | set(_CITABLE_EXTRA.get(kind, ()))
    citations: dict[str, Source] = struct.citations  # type: ignore[attr-defined]
    amended: tuple[str, ...] = struct.amended_fields  # type: ignore[attr-defined]
    for name, source in citations.items():
        path = _join(field, f"citations.{name}")
        if name not in allowed:
            raise TermsError(path, "unknown_field", f"{name!r} is not a citable field here")
        _check_source(source, path)
    for name in amended:
        if name not in allowed:
            raise TermsError(
                _join(field, "amended_fields"), "unknown_field", f"{name!r} is not a field here"
            )
    for name in cited:
        if _is_set(getattr(struct, name)) and name not in citations and name not in amended:
            raise TermsError(
                _join(field, name),
                "source_required",
                f"{name} is set but not cited in {_join(field, 'citations')}",
            )


def _validate(terms: ContractTerms) -> None:
    """Semantic checks msgspec cannot do; raises the first TermsError found."""
    try:
        get_zone(terms.time_zone)  # the clocks' own rule, so a stored term always computes
    except UnknownTimeZoneError as exc:
        raise TermsError(
            "time_zone", "unknown_time_zone", f"unknown IANA time zone {terms.time_zone!r}"
        ) from exc
    try:
        get_calendar(terms.calendar)
    except ValueError as exc:
        raise TermsError("calendar", "unknown_calendar", str(exc)) from exc
    hours = terms.business_hours
    if hours is not None:
        try:
            parse_windows(hours)
        except ValueError as exc:
            raise TermsError("business_hours", "invalid_business_hours", str(exc)) from exc
    _check_citations(terms, "")

    _check_clock(terms.breach_notice, "breach_notice", hours)
    _check_clock(terms.objection_window, "objection_window", hours)

    subs = terms.subprocessors
    _check_citations(subs, "subprocessors")
    for index, named in enumerate(subs.named):
        _check_source(named.source, f"subprocessors.named.{index}.source")
    stated = any(_is_set(getattr(subs, name)) for name in _CITED_FIELDS[SubprocessorTerm])
    if not stated and not subs.named and not (subs.fallback and subs.fallback.strip()):
        raise TermsError(
            "subprocessors.fallback",
            "fallback_required",
            "the terms state no sub-processing rule: state the rule that applies instead",
        )

    audit = terms.audit
    if audit.source is not None:
        _check_source(audit.source, "audit.source")
    if audit.max_per_year is not None and audit.max_per_year < 1:
        raise TermsError("audit.max_per_year", "invalid_value", "must be at least 1 or null")
    if audit.advance_notice is not None:
        _check_duration(audit.advance_notice, "audit.advance_notice", hours)
    limits = (
        audit.max_per_year,
        audit.advance_notice_required,
        audit.advance_notice,
        audit.scope_limit,
        audit.cost_borne_by,
    )
    if any(v is not None for v in limits) and audit.source is None and not audit.overridden:
        raise TermsError("audit.source", "source_required", "audit limits must cite their clause")
    if audit.source is None and not audit.overridden and not (audit.fallback or "").strip():
        raise TermsError(
            "audit.fallback",
            "fallback_required",
            "the contract is silent on audits: state the rule that applies instead",
        )

    rev = terms.reversibility
    _check_citations(rev, "reversibility")
    if rev.request_earliest_before_end is not None:
        _check_duration(
            rev.request_earliest_before_end, "reversibility.request_earliest_before_end", hours
        )
    _check_clock(rev.export_deadline, "reversibility.export_deadline", hours)
    if rev.integrity_check_window is not None:
        _check_clock(rev.integrity_check_window, "reversibility.integrity_check_window", hours)
    _check_clock(rev.deletion_deadline, "reversibility.deletion_deadline", hours)
    dor = rev.delete_or_return
    if dor.source is not None:
        _check_source(dor.source, "reversibility.delete_or_return.source")
    if len(set(dor.options)) != len(dor.options):
        raise TermsError(
            "reversibility.delete_or_return.options", "invalid_value", "options repeat a value"
        )
    if (dor.chosen_by or dor.options) and dor.source is None and not dor.overridden:
        raise TermsError(
            "reversibility.delete_or_return.source",
            "source_required",
            "who chooses and the options must cite their clause",
        )
    if dor.source is None and not dor.overridden and not (dor.fallback or "").strip():
        raise TermsError(
            "reversibility.delete_or_return.fallback",
            "fallback_required",
            "the contract is silent on delete-or-return: state the rule that applies instead",
        )
    _check_clock(dor.choice_window, "reversibility.delete_or_return.choice_window", hours)


# -- overrides, serialisation, helpers --------------------------------------------------------

_SOURCED = (ClockTerm, AuditTerm, DeleteOrReturnTerm)
"""Structs with one ``source`` and an ``overridden`` flag."""


_NESTED: Mapping[type[msgspec.Struct], Mapping[str, type[msgspec.Struct]]] = {
    ContractTerms: {
        "breach_notice": ClockTerm,
        "objection_window": ClockTerm,
        "subprocessors": SubprocessorTerm,
        "audit": AuditTerm,
        "reversibility": ReversibilityTerm,
    },
    ReversibilityTerm: {
        "export_deadline": ClockTerm,
        "integrity_check_window": ClockTerm,
        "deletion_deadline": ClockTerm,
        "delete_or_return": DeleteOrReturnTerm,
    },
    DeleteOrReturnTerm: {"choice_window": ClockTerm},
}
"""Fields holding a nested term, which an override merges into rather than replaces."""


def _merge(
    kind: type[msgspec.Struct], base: dict[str, Any], patch: Mapping[str, Any], path: str
) -> dict[str, Any]:
    """Deep-merge ``patch`` into ``base`` (a to_builtins dict of ``kind``), marking amendments."""
    if not isinstance(patch, Mapping):
        raise TermsError(path, "invalid_type", "an override must be an object of fields")
    names = {info.name for info in msgspec.structs.fields(kind)}
    nested_kinds = _NESTED.get(kind, {})
    merged = dict(base)
    for name, value in patch.items():
        field = _join(path, name)
        if name not in names:
            raise TermsError(field, "unknown_field", f"{kind.__name__} has no field {name!r}")
        if name == "citations" and not isinstance(value, Mapping):
            raise TermsError(field, "invalid_type", "citations must be an object of sources")
        if name == "amended_fields" and not (
            isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)
        ):
            raise TermsError(field, "invalid_type", "amended_fields must be a list of field names")
        nested = nested_kinds.get(name)
        if nested is not None and isinstance(value, Mapping):
            # a term absent so far (e.g. no integrity window) is merged into an empty one, so
            # it is still marked as an amendment
            merged[name] = _merge(nested, merged.get(name) or {}, value, field)
        elif name == "citations" and isinstance(value, Mapping):
            merged[name] = {**(merged.get(name) or {}), **_deep_copy(dict(value))}
        else:
            merged[name] = _deep_copy(value)
    if kind in _SOURCED:
        own = {n for n in patch if n not in nested_kinds}  # a nested clock marks only itself
        if own - {"source"}:
            merged["overridden"] = True
            if "source" not in patch:
                merged["source"] = None
    elif kind in _CITED_FIELDS:
        plain = [n for n in patch if n in _CITED_FIELDS[kind] or n in _CITABLE_EXTRA.get(kind, ())]
        if plain:
            patched_citations = patch.get("citations", {})
            citations = dict(merged.get("citations") or {})
            amended = list(merged.get("amended_fields") or [])
            for name in plain:
                if name not in patched_citations:
                    citations.pop(name, None)
                if name not in amended:
                    amended.append(name)
            merged["citations"] = citations
            merged["amended_fields"] = amended
    return merged


def apply_overrides(terms: ContractTerms, overrides: Mapping[str, Any]) -> ContractTerms:
    """Return ``terms`` with a contract amendment applied (a partial, nested dict).

    Example: ``{"breach_notice": {"duration": "24 hours"}}``. A changed term loses its seed
    citation (unless the override brings its own ``source``) and is marked ``overridden``, so
    nobody mistakes an amendment for the seed's wording. The result is validated like
    :func:`load_terms`; an unknown key raises :class:`TermsError` naming the field.
    """
    merged = _merge(ContractTerms, terms_to_dict(terms), overrides, "")
    return load_terms(merged)


def terms_to_dict(terms: ContractTerms) -> dict[str, Any]:
    """Plain JSON-ready data (for storage and the API); :func:`load_terms` reads it back."""
    result: dict[str, Any] = msgspec.to_builtins(terms)
    return result


def effective_duration(term: ClockTerm) -> str:
    """The duration a clock runs with: the contract's, else the product's fallback.

    Raises :class:`TermsError` (rule ``no_duration``) when neither exists, e.g. OMR's deletion,
    which is due at hand-over rather than after a period.
    """
    if term.duration is not None:
        return term.duration
    if term.fallback_duration is not None:
        return term.fallback_duration
    raise TermsError("duration", "no_duration", f"no duration and no fallback: {term.fallback}")


def iter_sources(terms: ContractTerms) -> Iterator[tuple[str, Source]]:
    """Every citation in ``terms`` with its dotted path (for checks, docs and evidence)."""

    def walk(value: object, path: str) -> Iterator[tuple[str, Source]]:
        if isinstance(value, Source):
            yield path, value
        elif isinstance(value, msgspec.Struct):
            for info in msgspec.structs.fields(type(value)):
                yield from walk(getattr(value, info.name), _join(path, info.name))
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from walk(item, _join(path, str(key)))
        elif isinstance(value, tuple):
            for index, item in enumerate(value):
                yield from walk(item, _join(path, str(index)))

    yield from walk(terms, "")
