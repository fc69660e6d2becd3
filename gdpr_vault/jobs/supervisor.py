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

import contextlib
import os
import signal
import subprocess
import sys


def exit_code(returncode: int) -> int:
    """A child's return code as a shell reports it: 128 + N when signal N killed it."""
    return 128 - returncode if returncode < 0 else returncode


def supervise(count: int, *, once: bool) -> int:
    """Run ``count`` children (``gdpr-vault worker --processes 1``) until they are done."""
    return _Supervisor(once).run(count)


class _Supervisor:
    """The children by pid. Only ``os.wait`` reaps them (never ``Popen.poll``), so no exit
    code is collected out of sight, and a pid not yet waited for cannot be reused: signalling
    it with ``os.kill`` is safe."""

    def __init__(self, once: bool) -> None:
        self.once = once
        self.running: set[int] = set()
        self.stopping: list[int] = []

    def stop_all(self, signum: int, _frame: object = None) -> None:
        if not self.stopping:
            self.stopping.append(signum)
        for pid in list(self.running):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def run(self, count: int) -> int:
        handlers = {
            sig: signal.signal(sig, self.stop_all) for sig in (signal.SIGINT, signal.SIGTERM)
        }
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
                *(["--once"] if self.once else []),
            ]
            children = []  # kept referenced: nothing else reaps them
            for _ in range(count):
                if self.stopping:
                    break
                child = subprocess.Popen(command)
                children.append(child)
                self.running.add(child.pid)
            if self.stopping:  # a signal that came while a child was starting missed it
                self.stop_all(self.stopping[0])
            return self._wait()
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _wait(self) -> int:
        worst = 0
        while self.running:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            if pid not in self.running:
                continue
            self.running.discard(pid)
            returncode = os.waitstatus_to_exitcode(status)
            code = exit_code(returncode)
            if self.stopping:
                if returncode in (0, -self.stopping[0]):
                    code = 0
            elif not (self.once and returncode == 0):
                print(
                    f"gdpr-vault worker: process {pid} ended (exit {code}); stopping the others",
                    file=sys.stderr,
                )
                self.stop_all(signal.SIGTERM)
            worst = max(worst, code)
        return worst
