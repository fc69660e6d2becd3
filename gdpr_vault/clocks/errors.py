"""Error classes of the deadline engine.

Every error is a ``ValueError`` subclass so that callers that only care about "bad input" can
catch ``ValueError``; callers that want to tell the user *what* was wrong catch the specific
class. Messages are one line, written for an operator reading a CLI error or an API response.
"""

from __future__ import annotations


class ClockError(ValueError):
    """Base class of every error raised by :mod:`gdpr_vault.clocks`."""


class NaiveDatetimeError(ClockError):
    """An instant without a time zone was given: its meaning would depend on the server."""


class UnknownTimeZoneError(ClockError):
    """The IANA time-zone name is not known to ``zoneinfo``."""


class UnknownCalendarError(ClockError):
    """The calendar spec is not one of the supported holiday calendars."""


class InvalidDurationError(ClockError):
    """The duration text (or amount) cannot be understood."""


class InvalidWindowsError(ClockError):
    """The business-hours windows are malformed, unordered or overlapping."""


class MissingBusinessHoursError(ClockError):
    """A business-hours duration was asked for without business-hours windows."""


class DeadlineOutOfRangeError(ClockError):
    """The deadline would fall outside the dates Python (and the holiday data) can represent."""


class InvalidClosingDaysError(ClockError):
    """Custom closing days are not dates (with an optional label)."""
