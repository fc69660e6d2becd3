"""The task runner: lanes by size, a bounded walk, and the first real failure wins."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from exporters.scheduling import LOOKAHEAD, SMALL_TASK, Cancelled, run_tasks


@dataclass
class FakeTask:
    label: str
    size_hint: int
    ran_by: list[str] = field(default_factory=list)


def _run(task: FakeTask) -> None:
    task.ran_by.append(threading.current_thread().name)


def test_every_task_runs_once_with_one_or_many_workers() -> None:
    for workers in (1, 2, 5):
        tasks = [FakeTask(str(i), (i % 3) * SMALL_TASK) for i in range(200)]
        run_tasks(tasks, _run, workers, threading.Event(), lambda: None)
        assert all(len(task.ran_by) == 1 for task in tasks)


def test_small_files_go_to_the_first_worker_while_the_others_take_large_ones() -> None:
    """Each lane keeps to its kind while any is left, then helps with the other kind."""
    both_running = threading.Barrier(2)
    order: list[tuple[str, bool]] = []

    def run(task: FakeTask) -> None:
        if task.label.startswith("first"):
            both_running.wait(timeout=5)  # each lane has surely taken its first task
        order.append((threading.current_thread().name, task.size_hint < SMALL_TASK))

    small = [FakeTask("first-small", 10)] + [FakeTask(f"s{i}", 10) for i in range(20)]
    large = [FakeTask("first-large", SMALL_TASK)] + [
        FakeTask(f"l{i}", 2 * SMALL_TASK) for i in range(3)
    ]
    run_tasks(large + small, run, 2, threading.Event(), lambda: None)
    assert len(order) == len(small) + len(large)
    for thread, own_is_small in (("exporters-0", True), ("exporters-1", False)):
        kinds = [is_small == own_is_small for name, is_small in order if name == thread]
        assert kinds[0], f"{thread} started with the other lane's work"
        assert kinds == sorted(kinds, reverse=True), f"{thread} went back to its own kind"


def test_the_walk_is_never_more_than_the_lookahead_ahead() -> None:
    pulled = 0
    most_ahead = 0
    done = 0
    lock = threading.Lock()

    def tasks() -> Iterator[FakeTask]:
        nonlocal pulled, most_ahead
        for i in range(LOOKAHEAD * 10):
            pulled += 1
            with lock:
                most_ahead = max(most_ahead, pulled - done)
            yield FakeTask(str(i), SMALL_TASK)  # all large: the small lane finds none of its own

    def run(task: FakeTask) -> None:
        nonlocal done
        with lock:
            done += 1

    run_tasks(tasks(), run, 2, threading.Event(), lambda: None)
    assert pulled == LOOKAHEAD * 10
    assert most_ahead <= LOOKAHEAD + 2


def test_a_failure_stops_the_rest_and_the_real_error_is_raised() -> None:
    stop = threading.Event()
    started: list[str] = []

    def run(task: FakeTask) -> None:
        started.append(task.label)
        if task.label == "3":
            raise OSError("disk full")
        if stop.is_set():
            raise Cancelled

    tasks = [FakeTask(str(i), SMALL_TASK) for i in range(1000)]
    with pytest.raises(OSError, match="disk full"):
        run_tasks(tasks, run, 2, stop, lambda: None)
    assert stop.is_set()
    assert len(started) < 100  # queued tasks never started once the failure was seen


def test_progress_is_reported_while_tasks_run() -> None:
    reports = 0
    release = threading.Event()

    def report() -> None:
        nonlocal reports
        reports += 1
        if reports >= 2:
            release.set()

    def run(task: FakeTask) -> None:
        assert release.wait(timeout=5)

    run_tasks([FakeTask("slow", 0)], run, 1, threading.Event(), report)
    assert reports >= 2


def _no_worker_left() -> bool:
    """No task worker thread (``exporters-<n>``; the write helpers are ``exporters-write_<n>``)."""
    return not [t for t in threading.enumerate() if re.fullmatch(r"exporters-\d+", t.name)]


def test_ctrl_c_waits_for_the_running_tasks_before_it_propagates() -> None:
    """The export is torn down (journal flushed, files closed) only once no worker writes."""
    finished: list[str] = []

    def run(task: FakeTask) -> None:
        threading.Event().wait(0.6)
        finished.append(task.label)

    def report() -> None:
        raise KeyboardInterrupt

    stop = threading.Event()
    with pytest.raises(KeyboardInterrupt):
        run_tasks([FakeTask("a", SMALL_TASK), FakeTask("b", 0)], run, 2, stop, report)
    assert sorted(finished) == ["a", "b"]  # both had started: both ended before Ctrl-C went up
    assert stop.is_set()
    assert _no_worker_left()


def test_a_failing_progress_display_does_not_hide_a_worker_s_failure() -> None:
    def run(task: FakeTask) -> None:
        if task.label == "bad":
            raise OSError("disk full")
        threading.Event().wait(0.6)

    def report() -> None:
        raise BrokenPipeError("the terminal went away")

    tasks = [FakeTask("bad", SMALL_TASK), FakeTask("slow", 0)]
    with pytest.raises(OSError, match="disk full"):
        run_tasks(tasks, run, 2, threading.Event(), report)
    assert _no_worker_left()


def test_a_worker_that_cannot_start_stops_the_ones_already_running(monkeypatch) -> None:
    real_start = threading.Thread.start
    ran: list[str] = []

    def start(thread: threading.Thread) -> None:
        if thread.name == "exporters-1":
            raise RuntimeError("can't start new thread")
        real_start(thread)

    def run(task: FakeTask) -> None:
        ran.append(task.label)
        threading.Event().wait(0.01)

    monkeypatch.setattr(threading.Thread, "start", start)
    stop = threading.Event()
    tasks = [FakeTask(str(i), 0) for i in range(1000)]
    with pytest.raises(RuntimeError, match="can't start"):
        run_tasks(tasks, run, 2, stop, lambda: None)
    assert stop.is_set()
    assert len(ran) < 50
    monkeypatch.undo()
    assert _no_worker_left()


def test_each_worker_runs_its_tasks_inside_the_worker_context_even_when_failing() -> None:
    entered: list[str] = []
    left: list[tuple[str, bool]] = []
    lock = threading.Lock()

    @contextlib.contextmanager
    def context() -> Iterator[None]:
        with lock:
            entered.append(threading.current_thread().name)
        try:
            yield
        except BaseException:
            with lock:
                left.append((threading.current_thread().name, True))
            raise
        with lock:
            left.append((threading.current_thread().name, False))

    tasks = [FakeTask(str(i), i * 1000) for i in range(10)]
    run_tasks(tasks, _run, 2, threading.Event(), lambda: None, context)
    assert sorted(entered) == ["exporters-0", "exporters-1"]
    assert sorted(left) == [("exporters-0", False), ("exporters-1", False)]
    assert all(task.ran_by == [task.ran_by[0]] for task in tasks)

    entered.clear()
    left.clear()

    def fail(_task: FakeTask) -> None:
        raise ValueError("broken source")

    with pytest.raises(ValueError, match="broken source"):
        run_tasks([FakeTask("x", 0)], fail, 1, threading.Event(), lambda: None, context)
    assert left == [("exporters-0", True)]
