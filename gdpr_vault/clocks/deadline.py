"""The result of a deadline computation and its helpers (time left, overdue, escalation).

End-of-day convention
---------------------
A period counted in days or months "ends at 24:00" on its last local day D. ``Deadline.due`` is
the **last instant that is still on time**: 23:59:59.999999 local on D, held in UTC.
``due_date_local`` is D and ``display`` reads ``"D 24:00 (zone)"``, never the next day's date.
For hour-based deadlines ``due`` is the exact instant. In both cases:

* ``is_overdue(now)`` is ``now > due`` (on time up to and including ``due``);
* ``time_left(now)`` is ``due - now`` (negative exactly when overdue);
* ``fraction_elapsed(now)`` is ``(now - start) / (due - start)``, 1.0 at ``due``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .calendars import Calendar
from .durations import Duration
from .windows import BusinessHours
from .zones import isoformat_utc, require_aware

__all__ = ["DEFAULT_THRESHOLDS", "Deadline"]

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.5, 0.75, 0.9, 1.0)


class Deadline:
    """A computed deadline: when it is due, how it was derived, and helpers to watch it.

    Built by :func:`gdpr_vault.clocks.compute_deadline`; treat it as immutable. The explanation
    is rendered on demand (it is only for humans, and most deadlines in a batch are never shown).
    """

    __slots__ = (
        "business_hours",
        "calendar",
        "clause",
        "due",
        "duration",
        "end_of_day",
        "extend",
        "nominal_due",
        "start",
        "zone",
    )

    def __init__(
        self,
        start: datetime,
        duration: Duration,
        zone: ZoneInfo,
        calendar: Calendar,
        due: datetime,
        end_of_day: bool,
        extend: bool,
        nominal_due: datetime,
        business_hours: BusinessHours | None = None,
        clause: str | None = None,
    ) -> None:
        self.start = start  #: the event instant, as given (aware)
        self.duration = duration
        self.zone = zone  #: the contract's zone, in which days and hours are counted
        self.calendar = calendar
        self.due = due  #: last on-time instant, UTC
        self.end_of_day = end_of_day  #: True when due is the 24:00 end of a local day
        self.extend = extend  #: whether art. 642 extension was asked for
        self.nominal_due = nominal_due  #: due before any extension, UTC
        self.business_hours = business_hours
        self.clause = clause

    # -- views --------------------------------------------------------------------------------
    @property
    def tz(self) -> str:
        """IANA name of the contract's zone."""
        return self.zone.key

    @property
    def extended(self) -> bool:
        """True when art. 642 extension moved the deadline."""
        return self.due != self.nominal_due

    @property
    def due_local(self) -> datetime:
        """``due`` in the contract's zone."""
        return self.due.astimezone(self.zone)

    @property
    def due_date_local(self) -> date:
        """The local day on which the deadline falls (D for a "D 24:00" deadline)."""
        return self.due_local.date()

    @property
    def start_utc(self) -> datetime:
        return self.start.astimezone(UTC)

    @property
    def start_local(self) -> datetime:
        return self.start.astimezone(self.zone)

    @property
    def display(self) -> str:
        """Human form: ``2026-04-30 24:00 (Europe/Paris)`` or ``2026-03-30 23:30 (…)``."""
        local = self.due_local
        if self.end_of_day:
            return f"{local.date().isoformat()} 24:00 ({self.tz})"
        shown = local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")
        return f"{shown} ({self.tz})"

    @property
    def explanation(self) -> list[str]:
        """Human-readable English lines: clause, rule, start, skipped days, extension, result."""
        from .explain import explain  # local import: explain depends on this module

        return explain(self)

    # -- watching -----------------------------------------------------------------------------
    def time_left(self, now: datetime) -> timedelta:
        """Time until ``due``; negative once overdue."""
        return self.due - require_aware(now, "now")

    def is_overdue(self, now: datetime) -> bool:
        """True only strictly after ``due`` (a 24:00 deadline is still met at 23:59:59.999999)."""
        return require_aware(now, "now") > self.due

    def fraction_elapsed(self, now: datetime) -> float:
        """Share of the period used: 0.0 at (or before) the event, 1.0 at ``due``, >1 after."""
        span = self.due - self.start
        elapsed = require_aware(now, "now") - self.start
        if elapsed <= timedelta(0):
            return 0.0
        return elapsed / span

    def thresholds_crossed(
        self, now: datetime, thresholds: Iterable[float] = DEFAULT_THRESHOLDS
    ) -> list[float]:
        """Escalation thresholds reached at ``now`` (e.g. ``[0.5, 0.75]``), in the given order.

        ``1.0`` means the due instant has been reached; the deadline is overdue just after it.
        """
        fraction = self.fraction_elapsed(now)
        return [t for t in thresholds if fraction >= t]

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view: ISO 8601 strings, UTC ones ending in ``Z``."""
        return {
            "deadline": isoformat_utc(self.due),
            "deadline_local": self.due_local.isoformat(),
            "due_date_local": self.due_date_local.isoformat(),
            "end_of_day": self.end_of_day,
            "display": self.display,
            "start": isoformat_utc(self.start),
            "start_local": self.start_local.isoformat(),
            "duration": str(self.duration),
            "amount": self.duration.amount,
            "unit": self.duration.unit.value,
            "tz": self.tz,
            "calendar": self.calendar.spec,
            "closing_days": [
                {"date": c.day.isoformat(), "label": c.label} for c in self.calendar.closing_days
            ],
            "business_hours": None if self.business_hours is None else str(self.business_hours),
            "extend": self.extend,
            "extended": self.extended,
            "nominal_deadline": isoformat_utc(self.nominal_due),
            "clause": self.clause,
            "explanation": self.explanation,
        }

    def __repr__(self) -> str:
        return (
            f"Deadline(due={isoformat_utc(self.due)}, display={self.display!r}, "
            f"duration={str(self.duration)!r}, calendar={self.calendar.spec!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Deadline):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]
