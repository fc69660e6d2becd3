"""``gdpr-vault worker --processes N``: N single-process workers started and watched as one.

Why a supervisor of our own rather than N copies under systemd or compose: the set must
behave as one service (one migration before any worker starts, one exit code, one signal to
stop them all), and a fan-out only uses both cores when both workers run. The rules:

- SIGINT and SIGTERM are caught before the first child starts and passed on to every child;
  a child that then stops (exit 0, or killed by that very signal) has stopped cleanly.
- A child that ends on its own (a crash, the OOM killer, someone killing it) stops its
  siblings, and its code becomes the set's (128 + the signal when a signal killed it), so
  whatever restarts the service restarts the whole set at full strength.
- With ``once`` (``--once``), children ending with 0 is the normal end of the run.
- Each child watches its parent's pid and stops if the supervisor dies (no orphans).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable


def exit_code(returncode: int) -> int:
    """A child's return code as a shell reports it: 128 + N when signal N killed it."""
    return 128 - returncode if returncode < 0 else returncode


def supervise(count: int, *, once: bool) -> int:
    """Run ``count`` children (``gdpr-vault worker --processes 1``) until they are done."""
    children: dict[int, subprocess.Popen[bytes]] = {}
    stopping: list[int] = []

    def stop_all(signum: int, _frame: object = None) -> None:
        if not stopping:
            stopping.append(signum)
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, stop_all) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        command = [
            sys.executable,
            "-m",
            "gdpr_vault.cli",
            "worker",
            "--processes",
            "1",
            "--migrated",
            "--parent",
            str(os.getpid()),
            *(["--once"] if once else []),
        ]
        for _ in range(count):
            if stopping:
                break
            child = subprocess.Popen(command)
            children[child.pid] = child
        return _wait(children, stopping, once, stop_all)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait(
    children: dict[int, subprocess.Popen[bytes]],
    stopping: list[int],
    once: bool,
    stop_all: Callable[[int], None],
) -> int:
    worst = 0
    running = set(children)
    while running:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid not in running:
            continue
        running.discard(pid)
        returncode = os.waitstatus_to_exitcode(status)
        children[pid].returncode = returncode
        code = exit_code(returncode)
        if stopping:
            if returncode in (0, -stopping[0]):
                code = 0
        elif not (once and returncode == 0):
            print(
                f"gdpr-vault worker: process {pid} ended (exit {code}); stopping the others",
                file=sys.stderr,
            )
            stop_all(signal.SIGTERM)
        worst = max(worst, code)
    return worst
