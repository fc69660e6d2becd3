"""A contract's named clocks, resolved from its terms and run through the deadline engine.

Pure: every capability that needs "when is this due under this client's contract" calls
``contract_deadline`` so the clause, the fallback and the art. 642 setting are applied the same
way everywhere, and the explanation cites the contract.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from gdpr_vault.clocks import Deadline, compute_deadline
from gdpr_vault.contracts.terms import ClockTerm, ContractTerms, effective_duration

ClockName = Literal[
    "breach_notice",
    "objection_window",
    "export_deadline",
    "integrity_check_window",
    "deletion_deadline",
    "delete_or_return_choice",
]
CLOCK_NAMES: tuple[str, ...] = get_args(ClockName)


class UnknownClockError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown clock {name!r}; known: {', '.join(CLOCK_NAMES)}")


class ClockNotInContractError(ValueError):
    """The contract has no such period (e.g. no integrity-check window)."""


def clock_term(terms: ContractTerms, name: str) -> ClockTerm:
    rev = terms.reversibility
    table: dict[str, ClockTerm | None] = {
        "breach_notice": terms.breach_notice,
        "objection_window": terms.objection_window,
        "export_deadline": rev.export_deadline,
        "integrity_check_window": rev.integrity_check_window,
        "deletion_deadline": rev.deletion_deadline,
        "delete_or_return_choice": rev.delete_or_return.choice_window,
    }
    if name not in table:
        raise UnknownClockError(name)
    term = table[name]
    if term is None:
        raise ClockNotInContractError(f"this contract sets no {name.replace('_', ' ')}")
    return term


def clause_label(term: ClockTerm, name: str) -> str:
    if term.overridden:
        return f"{name}: contract amendment"
    if term.source is not None:
        return f"{name}: seed {term.source.seed}, {term.source.article}"
    return f"{name}: contract silent; {term.fallback or 'product default'}"


def contract_deadline(terms: ContractTerms, name: str, start: datetime) -> Deadline:
    """The deadline of clock ``name`` for an event at ``start`` under these terms."""
    term = clock_term(terms, name)
    return compute_deadline(
        start,
        effective_duration(term),
        tz=terms.time_zone,
        calendar=terms.calendar,
        business_hours=terms.business_hours,
        extend=term.extend,
        clause=clause_label(term, name),
    )
