"""gdpr_vault.clocks: the deadline engine (pure: no database, no network, no wall clock).

Contract clocks ("48 heures", "30 jours", "10 jours ouvrés", "un mois", "48 h ouvrées") are
computed from an aware event instant, a :class:`Duration` and a holiday :class:`Calendar`, in
the contract's time zone, following the French rules in DOMAIN.md ("Clocks and calendars"):

* elapsed hours are exact durations in absolute time (DST-proof);
* calendar days, business days (jours ouvrés), working days (jours ouvrables) and months do not
  count the event's day and end at 24:00 local on the last day (Code de procédure civile
  art. 641); months keep the day number or fall back to the month's last day;
* optional art. 642 extension moves an end on a Saturday, Sunday, public holiday or closing day
  to 24:00 on the next working day (:func:`default_extension`: on for the client's windows,
  off for the processor's obligations);
* business hours are counted inside per-contract windows on business days.

End of day: ``Deadline.due`` is the last on-time instant, 23:59:59.999999 local on the last
day, held in UTC; ``Deadline.display`` shows it as ``"YYYY-MM-DD 24:00 (zone)"``;
``is_overdue(now)`` is ``now > due``. Every result can explain itself (``.explanation``).
"""

from .calendars import CALENDAR_SPECS, Calendar, ClosingDay, get_calendar
from .deadline import DEFAULT_THRESHOLDS, Deadline
from .durations import Duration, DurationUnit, parse_duration
from .engine import compute_deadline, default_extension
from .errors import (
    ClockError,
    DeadlineOutOfRangeError,
    InvalidClosingDaysError,
    InvalidDurationError,
    InvalidWindowsError,
    MissingBusinessHoursError,
    NaiveDatetimeError,
    UnknownCalendarError,
    UnknownTimeZoneError,
)
from .windows import BusinessHours, parse_windows

__all__ = [
    "CALENDAR_SPECS",
    "DEFAULT_THRESHOLDS",
    "BusinessHours",
    "Calendar",
    "ClockError",
    "ClosingDay",
    "Deadline",
    "DeadlineOutOfRangeError",
    "Duration",
    "DurationUnit",
    "InvalidClosingDaysError",
    "InvalidDurationError",
    "InvalidWindowsError",
    "MissingBusinessHoursError",
    "NaiveDatetimeError",
    "UnknownCalendarError",
    "UnknownTimeZoneError",
    "compute_deadline",
    "default_extension",
    "get_calendar",
    "parse_duration",
    "parse_windows",
]
