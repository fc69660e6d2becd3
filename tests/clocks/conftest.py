"""Shared helpers for the clocks tests."""

from datetime import datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def paris(*args: int) -> datetime:
    """An aware Europe/Paris datetime: paris(2026, 3, 28, 22, 30)."""
    return datetime(*args, tzinfo=PARIS)
