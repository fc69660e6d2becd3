"""Pure decisions of a reversibility case: its state machine, windows and deadlines.

Nothing here reads a clock, a table or the network: ``now`` and the contract's terms come in as
arguments, so every rule is tested on its own (tests/reversibility/test_rules.py).

States::

    opened → requested → exporting → export_available ─┬→ integrity_confirmed → deleting → deleted
                  │                        ↑            ├→ anomaly_reported → exporting (re-run)
                  │                        └────────────┘└→ deleting (window closed in silence)
                  └→ deleting (the client chose destruction: nothing to hand over)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gdpr_vault.clocks import ClockError, Deadline, DurationUnit, parse_duration
from gdpr_vault.contracts.clocks import (
    ClockNotInContractError,
    clause_label,
    clock_term,
    contract_deadline,
)
from gdpr_vault.contracts.terms import ContractTerms, TermsError

STATES = (
    "opened",
    "requested",
    "exporting",
    "export_available",
    "integrity_confirmed",
    "anomaly_reported",
    "deleting",
    "deleted",
)
TRIGGERS = ("termination", "non_renewal", "client_request")
CHOICES = ("restitution", "destruction")

#: action → (states it may start from, state it leads to); ``None`` keeps the state.
TRANSITIONS: Mapping[str, tuple[frozenset[str], str | None]] = {
    "request": (frozenset({"opened"}), "requested"),
    "choose": (frozenset({"opened", "requested", "export_available"}), None),
    "start_export": (frozenset({"requested", "anomaly_reported", "exporting"}), "exporting"),
    "export_done": (frozenset({"exporting"}), "export_available"),
    "confirm": (frozenset({"export_available"}), "integrity_confirmed"),
    "report_anomaly": (frozenset({"export_available"}), "anomaly_reported"),
    "start_deletion": (
        frozenset({"opened", "requested", "export_available", "integrity_confirmed", "deleting"}),
        "deleting",
    ),
    "deletion_done": (frozenset({"deleting"}), "deleted"),
    "download": (frozenset({"export_available", "integrity_confirmed"}), None),
    "add_exclusion": (
        frozenset({"opened", "requested", "exporting", "export_available", "integrity_confirmed"}),
        None,
    ),
}


class RuleViolation(ValueError):
    """A refused decision: ``rule`` names the rule, ``kind`` says how the service answers it.

    ``kind`` is ``"conflict"`` (409: not in this state) or ``"invalid"`` (422: the request itself
    breaks a contractual rule, e.g. a request made before its window opens).
    """

    def __init__(
        self, message: str, *, rule: str, kind: str = "conflict", field: str | None = None
    ) -> None:
        super().__init__(message)
        self.rule = rule
        self.kind = kind
        self.field = field


def next_state(status: str, action: str) -> str:
    """The state after ``action``, or :class:`RuleViolation` naming the transition rule."""
    allowed, target = TRANSITIONS[action]
    if status not in allowed:
        raise RuleViolation(
            f"a case in state {status!r} cannot {action.replace('_', ' ')}; "
            f"allowed from: {', '.join(sorted(allowed))}",
            rule=f"reversibility-transition:{action}",
        )
    return target or status


# -- deadlines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A computed instant with the reasons behind it, stored on the case as JSON."""

    name: str
    due: datetime | None
    display: str
    clause: str
    explanation: list[str]
    start: datetime | None

    def to_dict(self, terms_version: int) -> dict[str, Any]:
        return {
            "name": self.name,
            "due": _iso(self.due),
            "display": self.display,
            "clause": self.clause,
            "start": _iso(self.start),
            "explanation": self.explanation,
            "terms_version": terms_version,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def _from_deadline(name: str, deadline: Deadline) -> Window:
    return Window(
        name,
        deadline.due,
        deadline.display,
        deadline.clause or name,
        deadline.explanation,
        deadline.start,
    )


def clock(terms: ContractTerms, name: str, start: datetime) -> Window:
    """A contract clock run through the engine; a clock the contract lacks is explained, not due.

    OMR's deletion has no period (due at hand-over, Art. 23): the window is due at ``start``.
    """
    try:
        return _from_deadline(name, contract_deadline(terms, name, start))
    except ClockNotInContractError as exc:
        return Window(name, None, "none", name, [str(exc)], start)
    except (TermsError, ClockError) as exc:
        term = clock_term(terms, name)
        if term.starts_at in ("export_available", "export_delivery"):
            return Window(
                name,
                start,
                "on hand-over",
                clause_label(term, name),
                [
                    f"{clause_label(term, name)}",
                    f"no period: {term.fallback or exc}",
                    "due when the export is handed over (the availability instant)",
                ],
                start,
            )
        return Window(
            name, None, "none", clause_label(term, name), [f"no clock: {term.fallback}"], start
        )


def request_earliest(terms: ContractTerms, contract_end: date) -> Window | None:
    """When a return request may be made at the earliest (OpenSafe Art. 13.2: 30 days before).

    The contract ends at 24:00 on ``contract_end`` (local); "N days before" counts back N whole
    days from that end, so the window opens at 00:00 local on ``contract_end - (N - 1)`` days.
    """
    rev = terms.reversibility
    text = rev.request_earliest_before_end
    if text is None:
        return None
    duration = parse_duration(text)
    zone = ZoneInfo(terms.time_zone)
    end_of_contract = datetime.combine(contract_end + timedelta(days=1), time(0), tzinfo=zone)
    if duration.unit is DurationUnit.CALENDAR_DAYS:
        opens = end_of_contract - timedelta(days=duration.amount)
        opens = datetime.combine(opens.date(), time(0), tzinfo=zone)
    elif duration.unit is DurationUnit.MONTHS:
        month = contract_end.month - duration.amount
        year = contract_end.year + (month - 1) // 12
        month = (month - 1) % 12 + 1
        day = min(contract_end.day, 28)
        opens = datetime.combine(date(year, month, day), time(0), tzinfo=zone)
    else:
        raise RuleViolation(
            f"request window {text!r} is not in days or months", rule="request-window-unit"
        )
    source = rev.citations.get("request_earliest_before_end")
    clause = (
        f"request window: seed {source.seed}, {source.article}"
        if source
        else "request window: contract amendment"
    )
    explanation = [
        clause,
        *([f"« {source.quote} »"] if source else []),
        f"contract ends {contract_end.isoformat()} 24:00 ({terms.time_zone})",
        f"at the earliest {duration} before: from {opens.date().isoformat()} 00:00 "
        f"({terms.time_zone})",
    ]
    return Window(
        "request_window_opens",
        opens.astimezone(UTC),
        f"{opens.date().isoformat()} 00:00 ({terms.time_zone})",
        clause,
        explanation,
        None,
    )


def check_within_contract(
    terms: ContractTerms,
    contract_start: date | None,
    *,
    contract_end: date | None = None,
    events: Mapping[str, datetime | None] | None = None,
) -> None:
    """Refuse dates a case cannot have: an end before the start, a letter before the contract.

    A request dated 2001 under a contract that began in 2025 made the export deadline 2001-03-02
    (overdue at once) and went onto the signed certificate as the request date. Each event
    (``field`` name → instant) is compared with the start of the contract's first day in its
    time zone.
    """
    if contract_start is None:
        return
    if contract_end is not None and contract_end < contract_start:
        raise RuleViolation(
            f"contract_end {contract_end.isoformat()} is before the contract's start "
            f"{contract_start.isoformat()}",
            rule="before-contract-start",
            kind="invalid",
            field="contract_end",
        )
    first_instant = datetime.combine(contract_start, time(0), tzinfo=ZoneInfo(terms.time_zone))
    for field, at in (events or {}).items():
        if at is not None and at < first_instant:
            raise RuleViolation(
                f"{field} {_iso(at)} is before the contract started "
                f"({contract_start.isoformat()} 00:00, {terms.time_zone})",
                rule="before-contract-start",
                kind="invalid",
                field=field,
            )


def check_request_time(terms: ContractTerms, contract_end: date, received_at: datetime) -> None:
    window = request_earliest(terms, contract_end)
    if window is not None and window.due is not None and received_at < window.due:
        raise RuleViolation(
            f"a return request may be made at the earliest on {window.display} "
            f"({window.clause}); this one was received {_iso(received_at)}",
            rule="request-window",
            kind="invalid",
            field="received_at",
        )


def check_choice(
    terms: ContractTerms, choice: str, chosen_at: datetime, deadlines: Mapping[str, Any]
) -> bool:
    """Validate a restitution/destruction choice; returns True when it came after its window."""
    dor = terms.reversibility.delete_or_return
    if dor.options and choice not in dor.options:
        raise RuleViolation(
            f"this contract offers {', '.join(dor.options)}; not {choice}",
            rule="delete-or-return-options",
            kind="invalid",
            field="choice",
        )
    window = deadlines.get("delete_or_return_choice")
    due = parse_iso(window["due"]) if window else None
    return due is not None and chosen_at > due


def integrity_open(deadlines: Mapping[str, Any], now: datetime) -> bool:
    window = deadlines.get("integrity_check_window")
    due = parse_iso(window["due"]) if window else None
    return due is not None and now <= due


def is_late_report(deadlines: Mapping[str, Any], now: datetime) -> bool:
    window = deadlines.get("integrity_check_window")
    due = parse_iso(window["due"]) if window else None
    return due is not None and now > due


def deletion_run_at(
    deadlines: Mapping[str, Any], available_at: datetime, confirmed: bool
) -> datetime | None:
    """When the deletion job runs: at once on confirmation, else when the integrity window
    closes; without a window, one day before the deletion deadline (never before availability).

    ``None``: no automatic deletion (a deletion due at hand-over waits for the client's
    confirmation or the DPO's decision, so the export is not destroyed before it is fetched).
    """
    if confirmed:
        return available_at
    window = deadlines.get("integrity_check_window")
    if window and window.get("due"):
        return parse_iso(window["due"]) + timedelta(microseconds=1)  # type: ignore[operator]
    deletion = deadlines.get("deletion_deadline")
    due = parse_iso(deletion["due"]) if deletion else None
    if due is None or due <= available_at:
        return None
    return max(available_at, due - timedelta(days=1))


def check_deletion_allowed(
    status: str, choice: str | None, deadlines: Mapping[str, Any], now: datetime
) -> None:
    """Deletion waits for the integrity window to close, unless the client confirmed."""
    next_state(status, "start_deletion")
    if status in ("opened", "requested") and choice != "destruction":
        raise RuleViolation(
            "nothing was handed over yet: deletion before the export needs the client's "
            "choice of destruction",
            rule="reversibility-deletion:export-first",
        )
    if status == "export_available" and integrity_open(deadlines, now):
        raise RuleViolation(
            "the client's integrity-check window is still open and the client has not confirmed",
            rule="reversibility-deletion:integrity-window-open",
        )


# Instants that open something rather than end it: once passed they are open, not overdue.
OPENINGS = frozenset({"request_window_opens"})


def deadline_view(deadlines: Mapping[str, Any], now: datetime) -> dict[str, dict[str, Any]]:
    """Deadlines as the API shows them, each with ``overdue`` at ``now``; openings with ``open``.

    A request window that opened last week is not "overdue" (a reviewer read it that way).
    """
    out = {}
    for name, record in deadlines.items():
        due = parse_iso(record.get("due"))
        passed = bool(due and now >= due)
        if name in OPENINGS:
            out[name] = {**record, "overdue": False, "open": passed}
        else:
            out[name] = {**record, "overdue": bool(due and now > due)}
    return out
