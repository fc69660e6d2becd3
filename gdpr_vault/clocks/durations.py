"""Contract durations ("48 heures", "10 jours ouvrés", "un (1) mois", ``P30D``) and their parser.

A duration is only an amount and a unit; *how* it is counted (day of the event not counted,
24:00 end of day, extension, business hours) is the engine's job, so that the same value can
be stored in a contract preset and re-used by every clock.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

from .errors import InvalidDurationError

__all__ = ["ACCEPTED_FORMS", "Duration", "DurationUnit", "parse_duration"]


class DurationUnit(Enum):
    """How a contract counts time. Values are stable identifiers (used in JSON and presets)."""

    HOURS = "hours"
    """Elapsed time: an exact number of hours in absolute time (DST does not change it)."""
    CALENDAR_DAYS = "days"
    """Calendar days (art. 641: the event's day is not counted, ends at 24:00)."""
    BUSINESS_DAYS = "business_days"
    """Jours ouvrés: Monday-Friday except public holidays and closing days."""
    WORKING_DAYS = "working_days"
    """Jours ouvrables: Monday-Saturday except public holidays and closing days."""
    BUSINESS_HOURS = "business_hours"
    """Heures ouvrées: hours inside the contract's windows, on business days."""
    MONTHS = "months"
    """Months (art. 641: same day number, else the last day of the month)."""


_SINGULAR: dict[DurationUnit, str] = {
    DurationUnit.HOURS: "hour",
    DurationUnit.CALENDAR_DAYS: "day",
    DurationUnit.BUSINESS_DAYS: "business day",
    DurationUnit.WORKING_DAYS: "working day",
    DurationUnit.BUSINESS_HOURS: "business hour",
    DurationUnit.MONTHS: "month",
}

ACCEPTED_FORMS = (
    "accepted forms: 'N hours' / 'N heures', 'N days' / 'N jours', "
    "'N business days' / 'N jours ouvrés', 'N working days' / 'N jours ouvrables', "
    "'N business hours' / 'N heures ouvrées', 'N months' / 'N mois', "
    "or ISO 8601 'PTnH', 'PnD', 'PnM' (N a positive integer)"
)


@dataclass(frozen=True, slots=True)
class Duration:
    """A positive whole amount of one :class:`DurationUnit`.

    ``str(duration)`` gives the canonical English text, which :func:`parse_duration` reads back.
    Zero is rejected: no contract grants an empty period, and art. 641 has no meaning for it.
    """

    amount: int
    unit: DurationUnit

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise InvalidDurationError(f"duration amount must be an integer, got {self.amount!r}")
        if self.amount < 1:
            raise InvalidDurationError(f"duration amount must be positive, got {self.amount}")
        if not isinstance(self.unit, DurationUnit):
            raise InvalidDurationError(f"duration unit must be a DurationUnit, got {self.unit!r}")

    def __str__(self) -> str:
        word = _SINGULAR[self.unit]
        return f"{self.amount} {word}" if self.amount == 1 else f"{self.amount} {word}s"


def _fold(text: str) -> str:
    """Lower-case, strip accents and collapse spaces so 'Jours OUVRÉS' == 'jours ouvres'."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.lower().replace("\u2019", "'").split())


_UNIT_WORDS: dict[str, DurationUnit] = {}


def _words(unit: DurationUnit, *forms: str) -> None:
    for form in forms:
        _UNIT_WORDS[form] = unit


_words(DurationUnit.HOURS, "h", "hr", "hrs", "hour", "hours", "heure", "heures")
_words(
    DurationUnit.CALENDAR_DAYS,
    "d",
    "day",
    "days",
    "calendar day",
    "calendar days",
    "jour",
    "jours",
    "jour calendaire",
    "jours calendaires",
)
_words(
    DurationUnit.BUSINESS_DAYS,
    "business day",
    "business days",
    "jour ouvre",
    "jours ouvres",
    "j ouvres",
)
_words(
    DurationUnit.WORKING_DAYS,
    "working day",
    "working days",
    "jour ouvrable",
    "jours ouvrables",
)
_words(
    DurationUnit.BUSINESS_HOURS,
    "business hour",
    "business hours",
    "heure ouvree",
    "heures ouvrees",
    "h ouvree",
    "h ouvrees",
)
_words(DurationUnit.MONTHS, "month", "months", "mois")

# "48 hours", "48h", and the French contract style "un (1) mois" / "dix (10) jours ouvrés".
_TEXT_RE = re.compile(r"^(?:[a-z-]+(?: [a-z-]+)* )?\(?(\d+)\)? ?([a-z' ]+)$")
_ISO_RE = re.compile(r"^p(?:(\d+)([dm])|t(\d+)h)$")


def parse_duration(text: str) -> Duration:
    """Parse a contract duration in English, French or ISO 8601 (``PT48H``, ``P30D``, ``P1M``).

    Raises :class:`InvalidDurationError` naming the accepted forms when the text is not one.
    """
    if not isinstance(text, str):
        raise InvalidDurationError(f"duration must be text, got {type(text).__name__}")
    folded = _fold(text)
    iso = _ISO_RE.match(folded)
    if iso:
        if iso.group(3) is not None:
            return Duration(_amount(iso.group(3), text, DurationUnit.HOURS), DurationUnit.HOURS)
        unit = DurationUnit.CALENDAR_DAYS if iso.group(2) == "d" else DurationUnit.MONTHS
        return Duration(_amount(iso.group(1), text, unit), unit)
    match = _TEXT_RE.match(folded)
    if match:
        unit_word = match.group(2).strip()
        found = _UNIT_WORDS.get(unit_word)
        if found is not None:
            return Duration(_amount(match.group(1), text, found), found)
    raise InvalidDurationError(f"cannot read duration {text!r}; {ACCEPTED_FORMS}")


# No contract counts a deadline in centuries: a hundred years of each unit, generously counted.
# Beyond, the arithmetic leaves Python's dates (or takes minutes walking business days), and a
# term accepted once would fail every clock computed from it.
MAX_AMOUNT = {
    DurationUnit.HOURS: 100 * 366 * 24,
    DurationUnit.CALENDAR_DAYS: 100 * 366,
    DurationUnit.BUSINESS_DAYS: 100 * 366,
    DurationUnit.WORKING_DAYS: 100 * 366,
    DurationUnit.BUSINESS_HOURS: 100 * 366 * 24,
    DurationUnit.MONTHS: 100 * 12,
}


def _amount(digits: str, text: str, unit: DurationUnit) -> int:
    if len(digits) > 12:
        raise InvalidDurationError(f"duration {text!r} is longer than a hundred years")
    value = int(digits)
    if value < 1:
        raise InvalidDurationError(f"duration {text!r} must be positive; {ACCEPTED_FORMS}")
    if value > MAX_AMOUNT[unit]:
        raise InvalidDurationError(
            f"duration {text!r} is longer than a hundred years (at most {MAX_AMOUNT[unit]} "
            f"{unit.value.replace('_', ' ')})"
        )
    return value
