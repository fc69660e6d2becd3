"""Time zones and instants: every instant must be aware; zones are IANA names via zoneinfo.

A naive datetime is refused rather than guessed: "22:30" means a different instant in Paris and
in New York, and a breach clock must not depend on the server's settings.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import NaiveDatetimeError, UnknownTimeZoneError

__all__ = ["UTC", "get_zone", "isoformat_utc", "require_aware"]

_ZONES: dict[str, ZoneInfo] = {}
# Files in the zone database that are not zones a contract can name: the server's own local
# time (deadlines would follow the host's settings), the "Factory" placeholder, the POSIX
# rules template, and the leap-second ("right/") and duplicate ("posix/") trees.
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})
_NOT_ZONE_TREES = ("right/", "posix/")


def get_zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name (cached); :class:`UnknownTimeZoneError` when unknown."""
    zone = _ZONES.get(name)
    if zone is None:
        if not isinstance(name, str) or not name.strip():
            raise UnknownTimeZoneError(f"time zone must be an IANA name, got {name!r}")
        if name in _NOT_ZONES or name.startswith(_NOT_ZONE_TREES):
            raise UnknownTimeZoneError(
                f"{name!r} is not an IANA time zone; use a name such as 'Europe/Paris'"
            )
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise UnknownTimeZoneError(
                f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris'"
            ) from exc
        _ZONES[name] = zone
    return zone


def require_aware(value: datetime, what: str = "start") -> datetime:
    """Return ``value`` if it is an aware datetime; raise :class:`NaiveDatetimeError` if naive."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    tz: tzinfo | None = value.tzinfo
    if tz is None or tz.utcoffset(value) is None:
        raise NaiveDatetimeError(
            f"{what} {value.isoformat()} has no time zone; give an offset (e.g. +01:00 or Z)"
        )
    return value


def isoformat_utc(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix (microseconds only when non-zero)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
