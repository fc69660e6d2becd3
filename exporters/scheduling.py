"""Run the sources' tasks on worker threads: small files in one lane, large ones in the others.

Why lanes: a small file costs a dozen system calls and some Python, and almost no bytes. Two
threads doing that at once mostly hand the GIL to each other at every system call (profiled: a
quarter of the CPU time went to futex wake-ups, and 1,500 files of 1-64 KiB took 0.55 s). A large
file is the opposite: its time goes to hashing and writing 4 MiB chunks, with the GIL released.
So with two or more workers, the first one takes the small files (one after the other, the GIL
nearly its own) while the others stream the large ones; each lane takes the other's work when its
own runs dry, so no core idles while anything is left.

Why no executor: a ``Future`` per file plus ``wait(FIRST_COMPLETED)`` over the ones in flight cost
more than copying a small file. Workers pull tasks from one shared feed instead; the feed walks the
sources lazily, under its lock, holding at most ``LOOKAHEAD`` tasks, so a tree of a million files
never sits in memory.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

# Below this a task counts as small: its cost is per file, not per byte. Matches the size from
# which a chunk's write overlaps its hashing (exporters.streaming.OVERLAP_MIN).
SMALL_TASK = 1 << 20
LOOKAHEAD = 256
REPORT_SECONDS = 0.25


class Cancelled(Exception):
    """Raised inside workers once another worker failed, so they all stop quickly."""


class _Feed:
    """Hands out tasks by lane; walks the sources only as far as a lane needs."""

    def __init__(self, tasks: Iterator[Any]) -> None:
        self._tasks = tasks
        self._lock = threading.Lock()
        self._small: deque[Any] = deque()
        self._large: deque[Any] = deque()
        self._exhausted = False

    def take(self, small_lane: bool) -> Any | None:
        """The next task for a lane (its own kind first), or ``None`` when all are handed out."""
        with self._lock:
            mine, other = (self._small, self._large) if small_lane else (self._large, self._small)
            while not mine and not self._exhausted and len(other) < LOOKAHEAD:
                task = next(self._tasks, None)
                if task is None:
                    self._exhausted = True
                    break
                (self._small if task.size_hint < SMALL_TASK else self._large).append(task)
            if mine:
                return mine.popleft()
            if other:
                return other.popleft()
            return None


def run_tasks(
    tasks: Iterable[Any],
    run: Callable[[Any], None],
    workers: int,
    stop: threading.Event,
    report: Callable[[], None],
) -> None:
    """Run every task with ``run`` on ``workers`` threads; raise the first real failure.

    On a failure, ``stop`` is set at once from the failing thread, so tasks still queued never
    start and running ones give up at their next chunk (raising :class:`Cancelled`): how much
    a crashed export finished does not depend on when the main thread wakes up.
    """
    feed = _Feed(iter(tasks))
    errors: list[BaseException] = []
    errors_lock = threading.Lock()

    def work(small_lane: bool) -> None:
        try:
            while not stop.is_set():
                task = feed.take(small_lane)
                if task is None:
                    return
                run(task)
        except BaseException as exc:  # handed to the main thread, which re-raises it
            stop.set()
            with errors_lock:
                errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(workers > 1 and index == 0,), name=f"exporters-{index}")
        for index in range(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(REPORT_SECONDS)
                report()
    except BaseException:
        stop.set()  # e.g. Ctrl-C in the main thread: let the workers drain, then re-raise
        for thread in threads:
            thread.join()
        raise
    if stop.is_set() and not errors:
        raise Cancelled
    if errors:
        real = [e for e in errors if not isinstance(e, Cancelled)]
        raise (real or errors)[0]
