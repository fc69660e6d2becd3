"""``worker --processes N``'s supervisor, with stand-in children (plain sleeping processes):
the two races a review found, each reproduced deterministically."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from gdpr_vault.jobs import supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(20)"]


def test_a_stop_signal_while_a_child_starts_still_reaches_it(monkeypatch):
    real = subprocess.Popen

    def start_then_get_stopped(command, *args, **kwargs):
        child = real(SLEEPER)
        os.kill(os.getpid(), signal.SIGTERM)  # before the supervisor has recorded the child
        return child

    monkeypatch.setattr(supervisor.subprocess, "Popen", start_then_get_stopped)
    began = time.monotonic()
    assert supervisor.supervise(2, once=False) == 0  # stopped by the signal it was sent
    assert time.monotonic() - began < 10, "the child never heard the stop"


def test_a_crash_is_reported_even_when_a_stop_arrives_before_it_is_collected(monkeypatch):
    real = subprocess.Popen
    started: list[int] = []

    def crash_first_then_get_stopped(command, *args, **kwargs):
        if not started:
            child = real([sys.executable, "-c", "import sys; sys.exit(3)"])
            time.sleep(1.0)  # it has ended, not yet collected by the supervisor's os.wait
            started.append(child.pid)
            return child
        child = real(SLEEPER)
        os.kill(os.getpid(), signal.SIGTERM)
        return child

    monkeypatch.setattr(supervisor.subprocess, "Popen", crash_first_then_get_stopped)
    assert supervisor.supervise(2, once=False) == 3
