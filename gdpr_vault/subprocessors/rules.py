"""Pure decisions on sub-processors and their changes (GDPR Art. 28(2), 28(4); seed 004 DPA).

Nothing here touches the database or reads the wall clock: ``now`` is always an argument.

* :func:`objection_window` — a client's window from its receipt of the notice, in its
  contract's zone and calendar (``terms.objection_window``, art. 641 months, art. 642
  extension as the terms say; silent contracts run on the product fallback).
* :func:`earliest_effective_date` — the first local day a change may take effect for a client:
  the day after its window's last day (the window ends at 24:00 on that day).
* :func:`activation_blockers` — why a change may not become active for one client now.
* identity checks: countries (ISO 3166-1 alpha-2), the EEA and transfer mechanisms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gdpr_vault.clocks import Deadline, compute_deadline
from gdpr_vault.contracts.rules import country_error
from gdpr_vault.contracts.terms import ContractTerms, effective_duration

#: EU 27 plus Iceland, Liechtenstein and Norway: no transfer mechanism needed inside it.
EEA: frozenset[str] = frozenset(
    {
        *("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE"),
        *("IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"),
        *("IS", "LI", "NO"),
    }
)

#: GDPR Chapter V tools: SCC 2021 (Commission Decision 2021/914) by module, an adequacy
#: decision (Art. 45), binding corporate rules (Art. 47), an Art. 49 derogation.
TRANSFER_MECHANISMS: tuple[str, ...] = (
    "scc-2021-module-1",
    "scc-2021-module-2",
    "scc-2021-module-3",
    "scc-2021-module-4",
    "adequacy",
    "bcr",
    "art-49-derogation",
)

STATUSES: tuple[str, ...] = ("proposed", "active", "retired")
CHANGE_KINDS: tuple[str, ...] = ("add", "replace", "remove", "relocate", "activities")

#: Per-client states of a published change, in the order the DPO watches them.
CLIENT_STATES: tuple[str, ...] = (
    "pending",  # published; its notice is not queued yet (a fan-out job is about to)
    "notified",  # notice queued, no receipt recorded: the window has not started
    "received",  # receipt recorded: the window runs
    "objected",  # an objection in time is open: blocks the change for this client
    "accepted",  # explicitly, or by silence once the window closed
    "resolved",  # an objection was resolved (withdrawn, abandoned, not applied, terminates)
    "active",  # the change took effect for this client
)

RESOLUTIONS: tuple[str, ...] = (
    "withdrawn",  # the client withdrew its objection: the change may proceed
    "change_abandoned",  # the processor abandoned the whole change
    "not_applied",  # the change is not applied to this client
    "client_terminates",  # the client terminates the contract (reversibility elsewhere)
)
#: Resolutions after which the change never applies to the client.
EXCLUDING_RESOLUTIONS = frozenset({"change_abandoned", "not_applied", "client_terminates"})

MIN_REASONS_CHARS = 10
DEFAULT_CLAUSE = "GDPR Art. 28(2): objection to a new or replaced sub-processor"


@dataclass(frozen=True)
class RuleError:
    """One refusal for one client: ``{client_id, rule, detail}`` in problem+json ``errors``."""

    client_id: str | None
    rule: str
    detail: str
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "client_id": self.client_id,
            "rule": self.rule,
            "detail": self.detail,
        }
        if self.field:
            out["field"] = self.field
        return out


# -- identity ---------------------------------------------------------------------------------


def countries_errors(codes: Iterable[str], field: str) -> list[tuple[str, str]]:
    """``(field[index], message)`` for each code that is not ISO 3166-1 alpha-2."""
    out = []
    for index, code in enumerate(codes):
        message = country_error(code)
        if message:
            out.append((f"{field}[{index}]", f"{message}; got {code!r}"))
    return out


def outside_eea(country: str, hosting_locations: Sequence[str]) -> list[str]:
    return sorted({c for c in (country, *hosting_locations) if c and c not in EEA})


def transfer_mechanism_error(
    country: str, hosting_locations: Sequence[str], mechanism: str | None
) -> str | None:
    """A mechanism is required as soon as the seat or one hosting location is outside the EEA."""
    if mechanism is not None and mechanism not in TRANSFER_MECHANISMS:
        return f"unknown transfer mechanism {mechanism!r}; one of {', '.join(TRANSFER_MECHANISMS)}"
    outside = outside_eea(country, hosting_locations)
    if outside and mechanism is None:
        return (
            f"{', '.join(outside)} is outside the EEA: a transfer mechanism is required "
            f"({', '.join(TRANSFER_MECHANISMS)})"
        )
    return None


def notice_content_errors(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """What the written notice lacks (seed 004 DPA: i) activities, ii) identity, location and
    contact, iii) intended effective date)."""
    missing = []
    if not facts.get("activities"):
        missing.append(("activities", "(i) the processing activities sub-contracted are required"))
    for key in ("legal_name", "address", "country", "contact"):
        if not str(facts.get(key) or "").strip():
            missing.append((key, f"(ii) the sub-processor's {key.replace('_', ' ')} is required"))
    if not facts.get("effective_date"):
        missing.append(("effective_date", "(iii) the intended effective date is required"))
    return missing


# -- the objection window ---------------------------------------------------------------------


def window_clause(terms: ContractTerms) -> str:
    """The clause the window comes from: an amendment outranks the seed it replaced."""
    term = terms.objection_window
    if term.overridden:
        return DEFAULT_CLAUSE + " (window set by a contract amendment)"
    if term.source is not None:
        return f"seed {term.source.seed} {term.source.article}"
    return DEFAULT_CLAUSE + " (contract silent: product default)"


def silence_means_acceptance(terms: ContractTerms) -> bool:
    """Whether a client silent until its window closes has accepted the change: yes when its
    contract says so, and when it says nothing (the product's default, as the notice tells the
    client); no only when the contract says otherwise."""
    said = terms.subprocessors.silence_means_acceptance
    return said is None or bool(said)


def objection_window(received_at: datetime, terms: ContractTerms) -> Deadline:
    """The client's objection window: from receipt, for the contract's term, in its zone."""
    term = terms.objection_window
    return compute_deadline(
        received_at,
        effective_duration(term),
        tz=terms.time_zone,
        calendar=terms.calendar,
        business_hours=terms.business_hours,
        extend=term.extend,
        clause=window_clause(terms),
    )


def earliest_effective_date(window: Deadline) -> date:
    """The first day the change may take effect: the day after the window's last day."""
    if window.end_of_day:
        return window.due_date_local + timedelta(days=1)
    local = window.due_local
    return local.date() + timedelta(days=1) if local.time() != time(0) else local.date()


def earliest_after_due(due: datetime, tz: str) -> date:
    """:func:`earliest_effective_date` from a stored due instant (23:59:59.999999 local)."""
    local = due.astimezone(ZoneInfo(tz))
    return local.date() + timedelta(days=1) if local.time() != time(0) else local.date()


def effective_instant(effective_date: date, tz: str) -> datetime:
    """00:00 local on the effective date in the contract's zone."""
    return datetime.combine(effective_date, time(0), tzinfo=ZoneInfo(tz))


def effective_date_error(
    client_id: str, effective_date: date, window: Deadline, *, estimated: bool
) -> RuleError | None:
    earliest = earliest_effective_date(window)
    if effective_date >= earliest:
        return None
    basis = (
        "estimated from now, as the notice has not been received yet"
        if estimated
        else "from the recorded receipt"
    )
    return RuleError(
        client_id,
        "effective-date-before-window-end",
        f"effective date {effective_date.isoformat()} is before the earliest allowed date "
        f"{earliest.isoformat()}: the objection window ends {window.display} ({basis})",
        field="effective_date",
    )


# -- objections and activation ----------------------------------------------------------------


def reasons_error(reasons: str | None) -> str | None:
    text = (reasons or "").strip()
    if not text:
        return "an objection must state its reasons (objection motivée)"
    if len(text) < MIN_REASONS_CHARS:
        return f"the reasons must be at least {MIN_REASONS_CHARS} characters long"
    return None


def objection_is_late(objected_at: datetime, window_due: datetime | None) -> bool:
    """Late when the window has closed; an objection before receipt is never late."""
    return window_due is not None and objected_at > window_due


@dataclass(frozen=True)
class ClientPosition:
    """What the activation rules need to know about one client of a change."""

    client_id: str
    state: str
    window_due: datetime | None
    window_display: str | None
    open_objection: bool
    resolution: str | None
    time_zone: str


def activation_blockers(
    position: ClientPosition, effective_date: date, now: datetime
) -> list[RuleError]:
    """Every reason the change may not become active for this client at ``now``."""
    cid = position.client_id
    if position.state == "active":
        return [RuleError(cid, "already-active", "the change is already active for this client")]
    if position.resolution in EXCLUDING_RESOLUTIONS:
        return [
            RuleError(
                cid,
                "excluded",
                f"the change does not apply to this client (resolution: {position.resolution})",
            )
        ]
    errors = []
    if position.window_due is None:
        errors.append(
            RuleError(
                cid,
                "window-not-started",
                "no receipt of the notice is recorded: the objection window has not started",
            )
        )
    elif now <= position.window_due:
        errors.append(
            RuleError(
                cid,
                "window-open",
                f"the objection window is open until {position.window_display}",
            )
        )
    if position.open_objection:
        errors.append(
            RuleError(cid, "objection-open", "an objection is open and must be resolved first")
        )
    starts = effective_instant(effective_date, position.time_zone)
    if now < starts:
        errors.append(
            RuleError(
                cid,
                "before-effective-date",
                f"the notified effective date is {effective_date.isoformat()} "
                f"({position.time_zone}); the change cannot take effect earlier",
            )
        )
    return errors


def transfers_prohibited_error(
    client_id: str, terms: ContractTerms, country: str, hosting_locations: Sequence[str]
) -> RuleError | None:
    outside = outside_eea(country, hosting_locations)
    if outside and terms.subprocessors.third_country_transfers == "prohibited":
        return RuleError(
            client_id,
            "third-country-transfer-prohibited",
            f"the client's contract prohibits transfers outside the EEA; "
            f"{', '.join(outside)} is outside it",
            field="hosting_locations",
        )
    return None
