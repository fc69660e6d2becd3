"""The one clock of the service and the rules for instants that cross its boundary.

Everything that needs "now" takes a ``Clock`` so tests can move time; instants are always
timezone-aware and leave the service in UTC with a ``Z``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

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


class NaiveDatetimeError(ValueError):
    def __init__(self, field: str) -> None:
        super().__init__(f"{field} must carry a UTC offset (e.g. 2026-03-28T22:30:00+01:00)")
        self.field = field


def require_aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(field)
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
    return require_aware(value, field).astimezone(UTC)
