"""Business-hours windows ("heures ouvrées"), e.g. ``09:00-12:00,14:00-18:00``.

Windows are wall-clock times of the contract's zone, the same on every business day. They are
kept as minutes since midnight so the engine can do integer arithmetic; ``24:00`` is allowed as
an end so that a window can run to midnight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from .errors import InvalidWindowsError

__all__ = ["BusinessHours", "parse_windows"]

_TIME_RE = re.compile(r"^(\d{1,2})(?::|h)(\d{2})?$")
_FORMAT_HINT = "expected 'HH:MM-HH:MM[,HH:MM-HH:MM...]', e.g. '09:00-12:00,14:00-18:00'"


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Ordered, non-overlapping daily windows as ``(start_minute, end_minute)`` pairs."""

    windows: tuple[tuple[int, int], ...]
    # the same windows in microseconds after local midnight, for the engine's integer maths
    us_windows: tuple[tuple[int, int], ...] = field(
        init=False, repr=False, compare=False, hash=False
    )
    us_per_day: int = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.windows:
            raise InvalidWindowsError(
                f"at least one business-hours window is needed; {_FORMAT_HINT}"
            )
        previous_end = -1
        for start, end in self.windows:
            if not (0 <= start < end <= 24 * 60):
                raise InvalidWindowsError(
                    f"window {_hhmm(start)}-{_hhmm(end)} must start before it ends, within a day"
                )
            if start < previous_end:
                raise InvalidWindowsError(
                    f"window starting {_hhmm(start)} overlaps or precedes the previous one; "
                    "windows must be in order and must not overlap"
                )
            previous_end = end
        us_windows = tuple((s * 60_000_000, e * 60_000_000) for s, e in self.windows)
        object.__setattr__(self, "us_windows", us_windows)
        object.__setattr__(self, "us_per_day", sum(e - s for s, e in us_windows))

    @property
    def minutes_per_day(self) -> int:
        """Business minutes in one business day."""
        return sum(end - start for start, end in self.windows)

    @property
    def per_day(self) -> timedelta:
        """Business time in one business day."""
        return timedelta(minutes=self.minutes_per_day)

    def __str__(self) -> str:
        return ",".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in self.windows)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_time(text: str, whole: str) -> int:
    match = _TIME_RE.match(text.strip().lower())
    if not match:
        raise InvalidWindowsError(f"bad time {text.strip()!r} in {whole!r}; {_FORMAT_HINT}")
    hours, minutes = int(match.group(1)), int(match.group(2) or 0)
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise InvalidWindowsError(f"bad time {text.strip()!r} in {whole!r}; {_FORMAT_HINT}")
    return hours * 60 + minutes


def parse_windows(text: str | BusinessHours) -> BusinessHours:
    """Parse ``"09:00-12:00,14:00-18:00"`` (``9h-12h`` also read) into :class:`BusinessHours`.

    Windows must be non-empty, in order and non-overlapping; touching windows are allowed.
    Raises :class:`InvalidWindowsError` with the reason.
    """
    if isinstance(text, BusinessHours):
        return text
    if not isinstance(text, str) or not text.strip():
        raise InvalidWindowsError(f"business-hours windows are empty; {_FORMAT_HINT}")
    windows: list[tuple[int, int]] = []
    for part in text.replace(";", ",").split(","):
        bounds = part.split("-")
        if len(bounds) != 2:
            raise InvalidWindowsError(f"bad window {part.strip()!r} in {text!r}; {_FORMAT_HINT}")
        windows.append((_parse_time(bounds[0], text), _parse_time(bounds[1], text)))
    return BusinessHours(tuple(windows))
