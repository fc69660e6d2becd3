"""Day tables (what plans remember per local day): values found again, bounded, thread-safe."""

import random
import threading

from gdpr_vault.clocks.daytables import TABLE_DAYS, new_table, remember


def _read(table, ordinal):
    """The engine's read, as documented in daytables."""
    slot = ordinal - table[0]
    return table[slot] if 0 < slot < len(table) else None


def test_values_are_found_again_after_widening_on_either_side():
    holder = [new_table()]
    days = [739_000, 739_001, 738_990, 739_500, 737_000, 741_000, 739_000 + TABLE_DAYS // 3]
    for day in days:
        assert remember(holder, 0, day, ("day", day)) == ("day", day)
    table = holder[0]
    for day in days:
        assert _read(table, day) == ("day", day)
    assert _read(table, 739_002) is None
    assert _read(new_table(), 1) is None
    assert len(table) - 1 <= TABLE_DAYS


def test_a_table_spans_at_most_table_days():
    holder = [new_table()]
    remember(holder, 0, 730_000, "first")
    remember(holder, 0, 730_000 + TABLE_DAYS - 1, "last that fits")
    assert remember(holder, 0, 730_000 + TABLE_DAYS, "too far") == "too far"
    table = holder[0]
    assert len(table) - 1 <= TABLE_DAYS
    assert _read(table, 730_000) == "first"
    assert _read(table, 730_000 + TABLE_DAYS - 1) == "last that fits"
    assert _read(table, 730_000 + TABLE_DAYS) is None  # computed every time instead


def test_widening_leaves_the_old_table_consistent():
    holder = [new_table()]
    remember(holder, 0, 739_000, "a")
    old = holder[0]
    remember(holder, 0, 745_000, "b")
    assert holder[0] is not old  # a wider copy
    assert _read(old, 739_000) == "a"
    assert _read(old, 745_000) is None
    assert _read(holder[0], 739_000) == "a"


def test_first_days_of_the_calendar():
    holder = [new_table()]
    remember(holder, 0, 1, "0001-01-01")
    assert holder[0][0] == 0
    assert _read(holder[0], 1) == "0001-01-01"


def test_threads_never_read_a_wrong_value():
    holder = [new_table()]
    errors = []

    def work(seed):
        rng = random.Random(seed)
        for _ in range(3_000):
            day = 739_000 + rng.randrange(-6_000, 6_000)
            found = _read(holder[0], day)
            if found is None:
                remember(holder, 0, day, day * 2)
            elif found != day * 2:
                errors.append((day, found))

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    table = holder[0]
    assert all(
        value is None or value == 2 * (table[0] + slot) for slot, value in enumerate(table) if slot
    )
