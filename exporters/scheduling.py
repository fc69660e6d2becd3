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

import contextlib
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
    worker_context: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
) -> None:
    """Run every task with ``run`` on ``workers`` threads; raise the first real failure.

    On a failure, ``stop`` is set at once from the failing thread, so tasks still queued never
    start and running ones give up at their next chunk (raising :class:`Cancelled`): how much
    a crashed export finished does not depend on when the main thread wakes up.

    ``worker_context()`` is entered by each worker around all its tasks: a task may leave work
    pending on its thread (a file whose last write is in flight), which the context finishes
    on the way out, after a failure too.
    """
    feed = _Feed(iter(tasks))
    errors: list[BaseException] = []
    errors_lock = threading.Lock()
    finished = [threading.Event() for _ in range(workers)]

    def work(index: int) -> None:
        small_lane = workers > 1 and index == 0
        try:
            with worker_context() if worker_context is not None else contextlib.nullcontext():
                while not stop.is_set():
                    task = feed.take(small_lane)
                    if task is None:
                        break
                    run(task)
        except BaseException as exc:  # handed to the main thread, which re-raises it
            stop.set()
            with errors_lock:
                errors.append(exc)
        finally:
            finished[index].set()

    def first_error(*, real_only: bool = False) -> BaseException | None:
        with errors_lock:
            real = [e for e in errors if not isinstance(e, Cancelled)]
            candidates = real if real_only else real or errors
            return candidates[0] if candidates else None

    threads: list[threading.Thread] = []
    try:
        for index in range(workers):
            thread = threading.Thread(target=work, args=(index,), name=f"exporters-{index}")
            thread.start()
            threads.append(thread)
        # Waiting on events, not ``Thread.join(timeout)``: a Ctrl-C that lands inside a timed
        # join can leave the thread marked finished while it still runs (CPython 3.11), and
        # the export would then be torn down under a worker still writing.
        for done in finished[: len(threads)]:
            while not done.wait(REPORT_SECONDS):
                if not stop.is_set():  # once failing, a progress error must not hide the cause
                    report()
    except BaseException as interrupted:
        stop.set()  # Ctrl-C, a worker that did not start, a failing progress display
        for done in finished[: len(threads)]:
            done.wait()
        for thread in threads:
            thread.join()
        cause = first_error(real_only=True)
        if cause is not None and isinstance(interrupted, Exception):
            raise cause from interrupted  # a worker's failure explains more than, say, a report
        raise  # Ctrl-C and exits stay what they are
    for thread in threads:
        thread.join()
    cause = first_error()
    if cause is not None:
        raise cause
    if stop.is_set():
        raise Cancelled
