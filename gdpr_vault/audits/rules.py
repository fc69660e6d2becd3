"""Pure decisions on audits (GDPR Art. 28(3)(h); seed 000 Art. 41, seed 004 DPA "Audits").

Nothing here touches the database or reads the wall clock: ``now`` is always an argument.

* :func:`propose_decision` — ``accept`` or a reasoned ``refuse`` for an audit request, checked
  against the contract's :class:`~gdpr_vault.contracts.terms.AuditTerm` (at most N audits a
  rolling year, advance notice, scope limited to data-protection measures, cost). Every refusal
  cites the clause (seed file, article, exact quote). The DPO decides; this only proposes.
* :func:`transition_error` — the audit's state machine; an impossible step names its rule.
* :func:`finding_due` — when a finding's remediation is due (:data:`REMEDIATION_DURATIONS`).
* :func:`decision_due` — when the DPO's answer to a request is due.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from gdpr_vault.clocks import Deadline, compute_deadline
from gdpr_vault.contracts.terms import AuditTerm, ContractTerms, Source

Kind = Literal["on_site", "documentary"]
KINDS: tuple[str, ...] = ("on_site", "documentary")

STATUSES: tuple[str, ...] = (
    "requested",
    "accepted",
    "refused",
    "scheduled",
    "in_progress",
    "findings",
    "remediation",
    "closed",
)

#: States that use up the client's yearly allowance (a refused request does not).
COUNTED_STATUSES: frozenset[str] = frozenset(
    {"accepted", "scheduled", "in_progress", "findings", "remediation", "closed"}
)

#: action -> (states it may start from, state it leads to)
TRANSITIONS: Mapping[str, tuple[frozenset[str], str]] = {
    "accept": (frozenset({"requested"}), "accepted"),
    "refuse": (frozenset({"requested"}), "refused"),
    "schedule": (frozenset({"accepted"}), "scheduled"),
    "start": (frozenset({"scheduled"}), "in_progress"),
    "report": (frozenset({"in_progress"}), "findings"),
    "remediate": (frozenset({"findings"}), "remediation"),
    "close": (frozenset({"findings", "remediation"}), "closed"),
}

#: Where findings may be recorded: during the fieldwork and while the report is written.
FINDINGS_OPEN_IN: frozenset[str] = frozenset({"in_progress", "findings"})

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
FINDING_STATUSES: tuple[str, ...] = ("open", "in_progress", "resolved")
FINDING_TRANSITIONS: Mapping[str, frozenset[str]] = {
    "open": frozenset({"in_progress", "resolved"}),
    "in_progress": frozenset({"resolved"}),
    "resolved": frozenset(),
}

#: Remediation periods by severity, counted from the finding's creation in the contract's zone
#: and calendar. These are **product defaults, not contract terms**: no seed contract fixes a
#: remediation period, so the DPO may set another due date per finding (``due_at``) and the
#: finding then records that the date was chosen by hand.
REMEDIATION_DURATIONS: Mapping[str, str] = {
    "critical": "10 business days",
    "high": "1 month",
    "medium": "2 months",
    "low": "3 months",
}

#: Areas an audit limited to "data-protection measures" (seed 004) may cover. Anything else
#: (finances, pricing, source code, other customers…) is flagged as outside that scope.
DATA_PROTECTION_AREAS: frozenset[str] = frozenset(
    {
        "security_measures",
        "access_control",
        "encryption",
        "pseudonymisation",
        "backups",
        "logging",
        "physical_security",
        "incident_response",
        "breach_management",
        "subprocessors",
        "data_transfers",
        "retention_deletion",
        "reversibility",
        "data_subject_rights",
        "records_of_processing",
        "confidentiality",
        "staff_training",
        "privacy_by_design",
        "dpia_assistance",
        "business_continuity",
        "vulnerability_management",
    }
)

AREA_RE = re.compile(r"^[a-z][a-z0-9_]{1,59}\Z")
ROLLING_YEAR = timedelta(days=365)


@dataclass(frozen=True)
class AuditFacts:
    """The request being judged (``id`` breaks ties between requests made at one instant)."""

    id: str
    kind: str
    areas: tuple[str, ...]
    start: datetime
    end: datetime
    requested_at: datetime


@dataclass(frozen=True)
class OtherAudit:
    """Another audit of the same client, as far as the yearly limit cares."""

    id: str
    status: str
    start: datetime
    requested_at: datetime


@dataclass(frozen=True)
class Reason:
    rule: str
    detail: str
    clause: Source | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "detail": self.detail,
            "clause": _clause(self.clause),
        }


@dataclass(frozen=True)
class Proposal:
    decision: Literal["accept", "refuse"]
    reasons: tuple[Reason, ...] = ()
    conditions: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    counted_audits: tuple[str, ...] = ()
    basis: str = ""
    clause: Source | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reasons": [r.to_dict() for r in self.reasons],
            "conditions": list(self.conditions),
            "flags": list(self.flags),
            "counted_audits": list(self.counted_audits),
            "basis": self.basis,
            "clause": _clause(self.clause),
        }


def _clause(source: Source | None) -> dict[str, str] | None:
    if source is None:
        return None
    return {"seed": source.seed, "article": source.article, "quote": source.quote}


def cite(source: Source | None) -> str:
    """``seed 004_….txt, DPA, Audits: « … »`` (or the amendment/fallback wording)."""
    if source is None:
        return "contract amendment (no seed clause)"
    return f"seed {source.seed}, {source.article}: « {source.quote} »"


def area_error(area: str) -> str | None:
    if not AREA_RE.match(area):
        return f"area {area!r} must be a lower-case slug (letters, digits, _; 2-60 characters)"
    return None


def outside_data_protection(areas: Iterable[str]) -> list[str]:
    return sorted({a for a in areas if a not in DATA_PROTECTION_AREAS})


def counted_audits(facts: AuditFacts, others: Sequence[OtherAudit]) -> list[str]:
    """Audits sharing a rolling year with this one.

    Accepted-or-later audits count when their start lies less than 365 days before or after
    this one's (two audits 365 days apart or more never share a rolling year). Pending
    requests made *earlier* count too, so the first of two competing requests is the one
    proposed for acceptance; refused requests never count.
    """
    found = []
    for other in others:
        if abs(other.start - facts.start) >= ROLLING_YEAR:
            continue
        if other.status in COUNTED_STATUSES or (
            other.status == "requested"
            and (other.requested_at, other.id) < (facts.requested_at, facts.id)
        ):
            found.append(other.id)
    return sorted(found)


def propose_decision(
    facts: AuditFacts,
    terms: ContractTerms,
    others: Sequence[OtherAudit],
    now: datetime,
) -> Proposal:
    """Accept, or refuse with reasons that cite the clause; the DPO makes the decision."""
    term: AuditTerm = terms.audit
    source = term.source
    reasons: list[Reason] = []
    conditions: list[str] = []
    flags: list[str] = []
    counted: list[str] = []

    if term.max_per_year is not None:
        counted = counted_audits(facts, others)
        if len(counted) >= term.max_per_year:
            reasons.append(
                Reason(
                    "max-per-year",
                    f"the contract allows {term.max_per_year} audit(s) per year and "
                    f"{len(counted)} other audit(s) fall within a rolling year of this one "
                    f"({', '.join(counted)})",
                    source,
                )
            )

    if term.advance_notice is not None:
        earliest = compute_deadline(
            facts.requested_at,
            term.advance_notice,
            tz=terms.time_zone,
            calendar=terms.calendar,
            business_hours=terms.business_hours,
            clause=f"audit advance notice: {cite(source)}",
        )
        if facts.start <= earliest.due:
            reasons.append(
                Reason(
                    "advance-notice",
                    f"the audit must be notified {term.advance_notice} in advance: the "
                    f"earliest start is after {earliest.display}",
                    source,
                )
            )
    elif term.advance_notice_required:
        if facts.start <= max(facts.requested_at, now):
            reasons.append(
                Reason(
                    "advance-notice",
                    "the audit must be notified in advance: the proposed start is not after "
                    "the request",
                    source,
                )
            )
        else:
            conditions.append(
                "notified in advance: the contract fixes no notice period "
                f"({term.fallback or 'none stated'})"
            )

    if term.scope_limit is not None:
        outside = outside_data_protection(facts.areas)
        if outside:
            flags.extend(f"outside-scope:{a}" for a in outside)
            reasons.append(
                Reason(
                    "scope-limit",
                    f"the audit is limited to {term.scope_limit}; outside that scope: "
                    f"{', '.join(outside)}",
                    source,
                )
            )

    if term.cost_borne_by == "client":
        conditions.append(f"at the client's cost ({cite(source)})")
    elif term.cost_borne_by == "processor":
        conditions.append("at the processor's cost")

    if term.source is None and not term.overridden:
        basis = f"contract silent on audits: {term.fallback or 'GDPR Art. 28(3)(h)'}"
    elif term.overridden:
        basis = "audit terms set by a contract amendment"
    else:
        basis = cite(source)

    return Proposal(
        decision="refuse" if reasons else "accept",
        reasons=tuple(reasons),
        conditions=tuple(conditions),
        flags=tuple(flags),
        counted_audits=tuple(counted),
        basis=basis,
        clause=source,
    )


def transition_error(status: str, action: str) -> tuple[str, str] | None:
    """(rule, message) when ``action`` is impossible from ``status``, else None."""
    if action not in TRANSITIONS:
        return "known-action", f"unknown action {action!r}"
    sources, target = TRANSITIONS[action]
    if status not in sources:
        allowed = " or ".join(sorted(sources))
        return (
            f"{action}-from-{'-or-'.join(sorted(sources))}",
            f"cannot {action} an audit that is {status}: it must be {allowed} (→ {target})",
        )
    return None


def next_status(action: str) -> str:
    return TRANSITIONS[action][1]


def close_error(statuses: Iterable[str]) -> tuple[str, str] | None:
    """An audit closes only once every finding is resolved."""
    unresolved = sum(1 for s in statuses if s != "resolved")
    if unresolved:
        return (
            "findings-resolved",
            f"{unresolved} finding(s) are not resolved: resolve them before closing",
        )
    return None


def remediate_error(statuses: Iterable[str]) -> tuple[str, str] | None:
    if not any(s != "resolved" for s in statuses):
        return (
            "open-findings-required",
            "no finding needs remediation: close the audit instead",
        )
    return None


def finding_transition_error(current: str, target: str) -> tuple[str, str] | None:
    if target not in FINDING_TRANSITIONS:
        return "known-status", f"unknown finding status {target!r}"
    if target not in FINDING_TRANSITIONS.get(current, frozenset()):
        return (
            f"finding-{current}-to-{target}",
            f"a finding that is {current} cannot become {target}",
        )
    return None


def dates_error(start: datetime, end: datetime) -> str | None:
    if end <= start:
        return "the audit must end after it starts"
    if end - start > timedelta(days=92):
        return "an audit lasts at most 92 days (the auditor's token expires at its end)"
    return None


def decision_due(requested_at: datetime, duration: str, terms: ContractTerms) -> Deadline:
    """When the DPO's answer is due (a product setting, counted in the contract's calendar)."""
    return compute_deadline(
        requested_at,
        duration,
        tz=terms.time_zone,
        calendar=terms.calendar,
        business_hours=terms.business_hours,
        extend=False,
        clause=f"audit decision: product setting AUDIT_DECISION_DUE ({duration})",
    )


def finding_due(severity: str, created_at: datetime, terms: ContractTerms) -> Deadline:
    """When remediation of a finding is due, from its creation (product default by severity)."""
    duration = REMEDIATION_DURATIONS[severity]
    return compute_deadline(
        created_at,
        duration,
        tz=terms.time_zone,
        calendar=terms.calendar,
        business_hours=terms.business_hours,
        extend=False,
        clause=f"remediation of a {severity} finding: product default ({duration})",
    )


SAFE_PART = re.compile(r"[^A-Za-z0-9._-]+")


def safe_entry_part(text: str, max_length: int = 80) -> str:
    """One path segment of a zip entry: no separators, no ``..``, no leading dot or dash."""
    cleaned = SAFE_PART.sub("_", text).strip("._-")
    cleaned = re.sub(r"\.{2,}", "_", cleaned)[:max_length].strip("._-")
    return cleaned or "_"


def safe_entry_name(*parts: str) -> str:
    """A relative zip entry name built from sanitised segments: it cannot escape the root."""
    return "/".join(safe_entry_part(p) for p in parts)
