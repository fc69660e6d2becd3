"""The base of every request body: its instants and dates are checked as it is decoded.

Why here: msgspec decodes any ISO date-time, naive or at the edge of Python's range, and each
service then had to remember to check every one of its fields. A body is now refused before
any service code runs, with the field and the rule: ``offset-required`` for a naive date-time,
``supported-range`` for an instant or date outside 1900-2999 (an instant such as
0001-01-01T00:00+01:00 has no UTC value at all, and used to end in a 500).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TypeVar

import msgspec

from gdpr_vault.errors import ValidationProblem
from gdpr_vault.timeutil import InstantError, check_date, check_instant, parse_instant


class Input(msgspec.Struct, forbid_unknown_fields=True):
    """Subclass this for request bodies (the struct options, e.g. ``kw_only``, still apply)."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, date):
                check_input_date(value, name)


DateOrInstant = TypeVar("DateOrInstant", bound=date)


def check_input_date(value: DateOrInstant, field: str) -> DateOrInstant:
    """``value``, or a 422 problem naming ``field`` if it is naive or out of range."""
    try:
        if isinstance(value, datetime):
            check_instant(value, field)
        else:
            check_date(value, field)
    except InstantError as exc:
        # A Problem, not a ValueError: msgspec lets it through __post_init__ as it is.
        raise ValidationProblem(str(exc), field=field, rule=exc.rule) from None
    return value


def parse_input_instant(text: str, field: str, syntax_rule: str = "iso-8601") -> datetime:
    """An instant given as text (a query parameter), in UTC; a 422 problem naming ``field``."""
    try:
        return parse_instant(text, field)
    except InstantError as exc:
        raise ValidationProblem(str(exc), field=field, rule=exc.rule) from None
    except ValueError as exc:
        raise ValidationProblem(str(exc), field=field, rule=syntax_rule) from None
