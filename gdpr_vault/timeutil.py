"""The one clock of the service and the rules for instants that cross its boundary.

Everything that needs "now" takes a ``Clock`` so tests can move time; instants are always
timezone-aware and leave the service in UTC with a ``Z``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class FrozenClock:
    """A clock for tests and simulations: it only moves when told to."""

    def __init__(self, start: datetime) -> None:
        require_aware(start, "start")
        self.now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, instant: datetime) -> None:
        require_aware(instant, "instant")
        self.now = instant.astimezone(UTC)


# Instants accepted from outside. Python's datetime runs from year 1 to 9999, but an offset or
# a deadline's duration can push an instant near either end past it (0001-01-01T00:00+01:00 has
# no UTC value), and nothing this service records happened before 1900 or is due after 2999.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
EARLIEST_DATE = EARLIEST.date()
LATEST_DATE = LATEST.date()


class InstantError(ValueError):
    """An instant or date refused at the service's boundary; ``rule`` names why."""

    rule = "instant"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NaiveDatetimeError(InstantError):
    rule = "offset-required"

    def __init__(self, field: str) -> None:
        super().__init__(field, f"{field} must carry a UTC offset (e.g. 2026-03-28T22:30:00+01:00)")


class OutOfRangeError(InstantError):
    rule = "supported-range"

    def __init__(self, field: str) -> None:
        super().__init__(
            field, f"{field} must lie between {EARLIEST.year} and {LATEST.year - 1} (UTC)"
        )


def require_aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(field)
    return value


def check_instant(value: datetime, field: str) -> datetime:
    """``value`` if it is aware and within the supported range (see ``EARLIEST``), else raise.

    For values that come from outside; internal code keeps the cheaper :func:`require_aware`.
    """
    require_aware(value, field)
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise OutOfRangeError(field) from None
    if not EARLIEST <= utc < LATEST:
        raise OutOfRangeError(field)
    return value


def check_date(value: date, field: str) -> date:
    """``value`` if it lies within the supported range (see ``EARLIEST``), else raise."""
    if not EARLIEST_DATE <= value < LATEST_DATE:
        raise OutOfRangeError(field)
    return value


_last_iso: tuple[datetime, str] | None = None


def utc_iso(value: datetime | None) -> str | None:
    """``2026-03-02T09:00:00Z``. The last value's text is remembered (by identity: datetimes
    are immutable): a fan-out formats its one ``now`` thousands of times."""
    global _last_iso
    if value is None:
        return None
    last = _last_iso
    if last is not None and last[0] is value:
        return last[1]
    text = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    _last_iso = (value, text)
    return text


def parse_instant(text: str, field: str) -> datetime:
    """Parse ISO 8601 with an offset; naive text is refused rather than guessed."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{field} is not an ISO 8601 date-time: {text!r}") from exc
    return check_instant(value, field).astimezone(UTC)
