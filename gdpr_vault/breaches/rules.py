"""Pure breach decisions: dates, which duration runs, deadlines, clocks, Art. 33(3) completeness,
lateness, the client-scoped view of the facts and the CNIL-form structure.

No database and no wall clock: ``now`` is always an argument (docs/development.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from gdpr_vault.clocks import (
    DEFAULT_THRESHOLDS,
    Deadline,
    DurationUnit,
    compute_deadline,
    parse_duration,
)
from gdpr_vault.contracts.terms import PRODUCT_DEFAULTS, ClockTerm, effective_duration

#: Art. 33(1): the controller's own period to notify the supervisory authority.
CONTROLLER_PERIOD = "72 hours"
DEFAULT_TIME_ZONE = "Europe/Paris"
DEFAULT_CALENDAR = "FR"
NATURES = ("confidentiality", "integrity", "availability")

#: Art. 33(3) items, in the order of the article.
ART_33_3: tuple[tuple[str, str], ...] = (
    (
        "a",
        "the nature of the breach, including the categories and approximate number of data "
        "subjects and of personal data records concerned",
    ),
    ("b", "the name and contact details of the DPO or other contact point"),
    ("c", "the likely consequences of the breach"),
    ("d", "the measures taken or proposed to address the breach and mitigate its effects"),
)


@dataclass(frozen=True)
class DateError:
    field: str
    rule: str
    message: str


def date_errors(
    aware_at: datetime, occurred_at: datetime | None, ended_at: datetime | None, now: datetime
) -> list[DateError]:
    """What is wrong with a breach's dates (all aware): in the future, aware before occurring…"""
    errors: list[DateError] = []
    if aware_at > now:
        errors.append(
            DateError("aware_at", "not-in-future", "aware_at is in the future: awareness is a fact")
        )
    if occurred_at is not None:
        if occurred_at > now:
            errors.append(DateError("occurred_at", "not-in-future", "occurred_at is in the future"))
        if aware_at < occurred_at:
            errors.append(
                DateError(
                    "aware_at",
                    "aware-after-occurrence",
                    "aware_at is before occurred_at: nobody becomes aware of a breach before "
                    "it occurs",
                )
            )
    if ended_at is not None:
        if ended_at > now:
            errors.append(DateError("ended_at", "not-in-future", "ended_at is in the future"))
        if occurred_at is not None and ended_at < occurred_at:
            errors.append(
                DateError("ended_at", "end-after-start", "ended_at is before occurred_at")
            )
    return errors


@dataclass(frozen=True)
class NoticePeriod:
    """Which duration runs for one client's breach notice, and where it comes from."""

    duration: str
    source: str  # "contract" | "product_default"
    clause: str


def notice_period(term: ClockTerm | None, default: str | None, has_contract: bool) -> NoticePeriod:
    """The contract's own breach-notice duration, else the configured product default.

    ``default`` is the BREACH_DEFAULT_NOTICE setting (None: the product's own default, which is
    the preset's ``fallback_duration``). A client without an active contract still gets a clock:
    GDPR Art. 33(2) ("without undue delay") applies with the product default. The clause names
    the contract's article, not the client, so clients on the same terms share one computation.
    """
    if term is not None and term.duration is not None:
        source = term.source
        cited = f"{source.seed} {source.article}" if source else "amended contract term"
        return NoticePeriod(term.duration, "contract", f"Breach notice: {cited}")
    if default:
        duration = default
    elif term is not None:
        duration = effective_duration(term)
    else:
        duration = PRODUCT_DEFAULTS["breach_notice"]
    where = "the contract is silent" if has_contract else "no active contract"
    return NoticePeriod(
        duration,
        "product_default",
        f"Breach notice: {where}; GDPR Art. 33(2) without undue delay, product default {duration}",
    )


def valid_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=4096)
def deadline(
    start: datetime,
    duration: str,
    tz: str,
    calendar: str,
    business_hours: str | None,
    extend: bool,
    clause: str | None,
) -> Deadline:
    """The notice deadline (cached: one incident fans out to many clients on few contracts)."""
    return compute_deadline(
        start,
        duration,
        tz=tz,
        calendar=calendar,
        business_hours=business_hours,
        extend=extend,
        clause=clause,
    )


@lru_cache(maxsize=4096)
def explanation(
    start: datetime,
    duration: str,
    tz: str,
    calendar: str,
    business_hours: str | None,
    extend: bool,
    clause: str | None,
) -> tuple[str, ...]:
    """The deadline's explanation lines (rendering them costs more than the deadline itself)."""
    return tuple(
        deadline(start, duration, tz, calendar, business_hours, extend, clause).explanation
    )


def clock_view(
    dl: Deadline, now: datetime, notified_at: datetime | None, late_by_seconds: int | None
) -> dict[str, Any]:
    """What the screen shows for one client's notice clock."""
    if notified_at is not None:
        status = "notified_late" if late_by_seconds else "notified"
    elif dl.is_overdue(now):
        status = "overdue"
    else:
        status = "pending"
    left = dl.time_left(now)
    return {
        "status": status,
        "deadline": dl.due.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "deadline_display": dl.display,
        "time_left_seconds": None if notified_at else int(left.total_seconds()),
        "time_left": None if notified_at else format_span(left),
        "fraction_elapsed": None if notified_at else round(dl.fraction_elapsed(now), 4),
        "thresholds_crossed": [] if notified_at else dl.thresholds_crossed(now),
    }


def format_span(span: timedelta) -> str:
    """``-5h30m`` / ``1d 2h05m``: a short human form of a signed time span."""
    seconds = int(span.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    text = f"{hours}h{minutes:02d}m"
    return f"{sign}{days}d {text}" if days else f"{sign}{text}"


def format_span_seconds(seconds: int | None) -> str:
    """``format_span`` for a number of seconds; empty for None or 0 (not late)."""
    return format_span(timedelta(seconds=seconds)) if seconds else ""


def needs_business_hours(duration: str) -> bool:
    """Whether the duration counts business hours (then the contract's windows apply)."""
    return parse_duration(duration).unit is DurationUnit.BUSINESS_HOURS


def escalation_instants(
    start: datetime, due: datetime, thresholds: Sequence[float] = DEFAULT_THRESHOLDS
) -> list[tuple[float, datetime]]:
    """When each escalation threshold is reached (50%, 75%, 90% of the period, and expiry)."""
    span = due - start
    return [(t, due if t >= 1.0 else start + span * t) for t in thresholds]


def lateness(due: datetime, sent_at: datetime) -> int:
    """Seconds by which a notice sent at ``sent_at`` missed ``due`` (0 when on time)."""
    if sent_at <= due:
        return 0
    return max(1, int((sent_at - due).total_seconds()))


def _filled(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple, dict)):
        return bool(value)
    return True


def missing_items(facts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Art. 33(3) items a notice built from ``facts`` would still lack, with the fields.

    ``facts`` is a client-scoped view (:func:`client_facts`) or the incident's own facts.
    (a) nature incl. categories and approximate numbers of data subjects and of records;
    (b) DPO or other contact point; (c) likely consequences; (d) measures taken or proposed.
    """
    gaps: dict[str, list[str]] = {key: [] for key, _ in ART_33_3}
    for field in ("nature", "subject_categories", "data_categories"):
        if not _filled(facts.get(field)):
            gaps["a"].append(field)
    for field in ("data_subjects_approx", "records_approx"):
        if facts.get(field) is None:
            gaps["a"].append(field)
    contact = facts.get("contact_point") or {}
    if not (
        _filled(contact.get("name"))
        and (_filled(contact.get("email")) or _filled(contact.get("phone")))
    ):
        gaps["b"].append("contact_point")
    if not _filled(facts.get("likely_consequences")):
        gaps["c"].append("likely_consequences")
    if not (_filled(facts.get("measures_taken")) or _filled(facts.get("measures_proposed"))):
        gaps["d"].append("measures_taken")
    return [
        {"item": f"33(3)({key})", "label": label, "fields": gaps[key]}
        for key, label in ART_33_3
        if gaps[key]
    ]


def client_facts(facts: Mapping[str, Any], client_id: str) -> dict[str, Any]:
    """The facts as one client may see them: no other client's id or figures.

    ``per_client`` is reduced to this client's own figures, which replace the incident-wide
    ``data_subjects_approx`` / ``records_approx`` when the DPO gave them (``figures_scope``
    says which the client is looking at).
    """
    view = {k: v for k, v in facts.items() if k != "per_client"}
    own = next((p for p in facts.get("per_client") or () if p.get("client_id") == client_id), None)
    view["figures_scope"] = "incident"
    if own is not None:
        view["figures_scope"] = "client"
        for key in ("data_subjects_approx", "records_approx"):
            if own.get(key) is not None:
                view[key] = own[key]
    return view


def controller_deadline(aware_at: datetime, tz: str, calendar: str) -> Deadline:
    """The controller's Art. 33(1) clock if it becomes aware at ``aware_at`` (e.g. at receipt)."""
    return deadline(
        aware_at,
        CONTROLLER_PERIOD,
        tz,
        calendar,
        None,
        False,
        "GDPR Art. 33(1): the controller notifies the supervisory authority within 72 hours",
    )


_ORIGINS = {
    "internal_malicious": "internal, malicious act",
    "internal_accidental": "internal, accidental",
    "external_malicious": "external, malicious act",
    "external_accidental": "external, accidental",
    "unknown": "unknown",
}


def cnil_form(
    *,
    facts: Mapping[str, Any],
    breach: Mapping[str, Any],
    processor_name: str,
    client: Mapping[str, Any] | None,
    obligation: Mapping[str, Any] | None,
    notices: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The facts in the structure of the CNIL breach-notification form, for the controller.

    ``facts`` must already be the client-scoped view when ``client`` is given. The controller
    completes it (its own identity, its risk assessment, its Art. 34 decision); the processor
    supplies what it knows, and says what is still missing.
    """
    contact = facts.get("contact_point") or {}
    first_notice = next((n for n in notices if n.get("phase") == "initial"), None)
    informed_at = first_notice["sent_at"] if first_notice else None
    return {
        "form": "CNIL - Notification d'une violation de données personnelles (Art. 33 RGPD)",
        "breach_id": breach["id"],
        "facts_version": breach["current_version"],
        "status": breach["status"],
        "missing_art_33_3": missing_items(facts),
        "sections": {
            "organisation": {
                "controller": (
                    {"client_id": client["id"], "legal_name": client["legal_name"]}
                    if client
                    else None
                ),
                "controller_dpo": (client or {}).get("dpo"),
                "processor": {"name": processor_name, "role": "processor (Art. 28)"},
                "processor_contact_point": contact or None,
            },
            "nature": {
                "title": facts.get("title"),
                "circumstances": facts.get("description"),
                "nature": list(facts.get("nature") or []),
                "origin": _ORIGINS.get(facts.get("origin") or ""),
                "detection_method": facts.get("detection_method"),
                "systems": list(facts.get("systems") or []),
            },
            "dates": {
                "occurred_at": facts.get("occurred_at"),
                "ended_at": facts.get("ended_at"),
                "ongoing": facts.get("ongoing"),
                "processor_aware_at": facts.get("aware_at"),
                "controller_informed_at": informed_at,
                "processor_notice_deadline": obligation.get("deadline") if obligation else None,
            },
            "persons_and_records": {
                "subject_categories": list(facts.get("subject_categories") or []),
                "data_subjects_approx": facts.get("data_subjects_approx"),
                "data_categories": list(facts.get("data_categories") or []),
                "special_categories": list(facts.get("special_categories") or []),
                "records_approx": facts.get("records_approx"),
                "figures_scope": facts.get("figures_scope", "incident"),
            },
            "consequences": {"likely_consequences": facts.get("likely_consequences")},
            "measures": {
                "taken": list(facts.get("measures_taken") or []),
                "proposed": list(facts.get("measures_proposed") or []),
            },
            "cross_border": {
                "cross_border": facts.get("cross_border"),
                "member_states": list(facts.get("member_states") or []),
            },
            "information_of_persons": {
                "decision_by": "the controller (GDPR Art. 34); the processor supplies the facts",
                "data_unintelligible": facts.get("data_unintelligible"),
                "data_unintelligible_details": facts.get("data_unintelligible_details"),
                "measures_reducing_risk": list(facts.get("measures_taken") or []),
                "data_subjects_approx": facts.get("data_subjects_approx"),
                "exemptions_art_34_3": [
                    "(a) data unintelligible to unauthorised persons, e.g. encrypted",
                    "(b) subsequent measures make the high risk no longer likely",
                    "(c) disproportionate effort: a public communication instead",
                ],
            },
        },
        "notices": [
            {
                "phase": n["phase"],
                "sequence": n["sequence"],
                "sent_at": n["sent_at"],
                "received_at": n.get("received_at"),
            }
            for n in notices
        ],
    }
