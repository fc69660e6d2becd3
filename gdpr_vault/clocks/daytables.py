"""Day tables: what a plan remembers per local day, in a list indexed by the day's ordinal.

A day-based clock ends at the same instant for every event of one local day, and hour clocks
keep per-day values too (see :mod:`engine`), so each plan remembers results by day. A dict keyed
by the ordinal costs three memory reads per look-up (its index, the entry, then the key object
to compare with); in a batch of events spread over years they miss the CPU caches and cost
more than the rest of the computation. A list indexed by ``ordinal - base`` costs one.

Layout: ``table[0]`` is the base; ``table[ordinal - base]`` is the value for that day, or None.
Read it as (the engine catches the IndexError rather than calling ``len``: it is rare)::

    slot = ordinal - table[0]
    found = table[slot] if 0 < slot < len(table) else None

The base lives in the table itself, so a reader always pairs a list with its own base. A table
never shrinks or moves in place: :func:`remember` widens it by building a wider copy and
putting the copy in the holder (under a lock), so a reader that took the old list keeps a
consistent, if older, view; a value stored in the old list by another thread meanwhile is only
lost (computed again later). Two threads storing the same day store equal values.

Bounds: a table covers at most :data:`TABLE_DAYS` consecutive days (about 100 years, 285 kB of
slots); a day beyond that span of the ones already covered is computed every time instead. It
grows by half its size at a time, so it stays proportional to the span of days actually used.
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar

__all__ = ["TABLE_DAYS", "new_table", "remember"]

T = TypeVar("T")

TABLE_DAYS = 36_525
_MIN_GROWTH = 64  # days added on each side at least, so that neighbouring days do not copy
_WIDEN_LOCK = threading.Lock()


def new_table() -> list[Any]:
    """An empty day table (base 0: no ordinal, which is at least 1, has a slot)."""
    return [0]


def remember(holder: list[Any], index: int, ordinal: int, value: T) -> T:
    """Store ``value`` for day ``ordinal`` in the table ``holder[index]`` and return it.

    Widens the table (a copy, put in ``holder``) when the day is outside it, unless the table
    would then span more than :data:`TABLE_DAYS` days: the value is then not remembered.
    """
    table = holder[index]
    slot = ordinal - table[0]
    if not 0 < slot < len(table):
        with _WIDEN_LOCK:
            table = _widened(holder[index], ordinal)  # re-read: it may have been widened
            if table is None:
                return value
            holder[index] = table
        slot = ordinal - table[0]
    table[slot] = value
    return value


def _widened(table: list[Any], ordinal: int) -> list[Any] | None:
    """``table`` itself if it covers ``ordinal``, else a wider copy that does (None if the days
    remembered and ``ordinal`` span more than :data:`TABLE_DAYS`).

    The copy adds half the current size (at least :data:`_MIN_GROWTH` days) beyond ``ordinal``,
    so that widening one day at a time costs amortised O(1); empty slots at the far end are
    dropped if the span needs the room.
    """
    base, size = table[0], len(table)
    if 0 < ordinal - base < size:
        return table
    if size == 1:  # empty (a new plan): centred on the day
        first = ordinal - _MIN_GROWTH if ordinal > _MIN_GROWTH else 1
        return [first - 1, *[None] * (ordinal + _MIN_GROWTH - first + 1)]
    low, high = 1, size - 1  # the slots in use
    while low <= high and table[low] is None:
        low += 1
    while high >= low and table[high] is None:
        high -= 1
    pad = max(_MIN_GROWTH, size // 2)
    if low > high:  # nothing remembered yet (another thread widened it): centred on the day
        first, last, need_first, need_last = ordinal - pad, ordinal + pad, ordinal, ordinal
    elif ordinal <= base:  # before the days covered
        first, last = ordinal - pad, base + size - 1
        need_first, need_last = ordinal, base + high
    else:  # after them
        first, last = base + 1, ordinal + pad
        need_first, need_last = base + low, ordinal
    if need_last - need_first >= TABLE_DAYS:
        return None
    first = max(first, 1, need_last - TABLE_DAYS + 1)
    last = min(last, first + TABLE_DAYS - 1)
    widened: list[Any] = [first - 1]
    widened.extend([None] * (last - first + 1))
    kept_first, kept_last = max(first, base + 1), min(last, base + size - 1)
    if kept_first <= kept_last:
        widened[kept_first - first + 1 : kept_last - first + 2] = table[
            kept_first - base : kept_last - base + 1
        ]
    return widened
