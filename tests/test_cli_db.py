"""CLI commands that touch the database, run in a subprocess like an operator would."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def gdpr_vault(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gdpr_vault.cli", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=False,
    )


@pytest.mark.usefixtures("db")
def test_token_create_prints_the_token_alone_on_the_last_line():
    result = gdpr_vault("token", "create", "--role", "dpo", "--label", "script")
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("gv_") and " " not in last


@pytest.mark.usefixtures("db")
def test_token_create_refuses_bad_scope_with_exit_2():
    result = gdpr_vault("token", "create", "--role", "client")
    assert result.returncode == 2
    assert "client_id" in result.stderr


@pytest.mark.usefixtures("db")
def test_demo_then_verify_trail():
    demo = gdpr_vault("demo")
    assert demo.returncode == 0, demo.stderr
    summary = json.loads(demo.stdout)
    assert {c["preset"] for c in summary["clients"]} == {
        "ips",
        "omr",
        "sibio",
        "octipas",
        "opensafe",
    }
    verify = gdpr_vault("verify-trail")
    assert verify.returncode == 0, verify.stderr
    assert json.loads(verify.stdout)["ok"] is True


@pytest.mark.usefixtures("db")
def test_worker_processes_share_the_queue_and_stop_when_idle():
    """``worker --processes 2 --once``: two child processes, one migration, the periodic
    checkpoint scheduled and run once between them, and exit 0 when nothing is left."""
    result = gdpr_vault("worker", "--processes", "2", "--once")
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    # The two processes share stderr: two JSON log lines written at the same instant can land
    # on one line ('}{'), so records are split there as well as at newlines.
    records = re.split(r"\n|(?<=\})(?=\{)", output)
    started = {
        match.group(1)
        for line in records
        if "worker.started" in line and (match := re.search(r'worker"?[=:] ?"?([^"\s,}]+)', line))
    }
    assert len(started) == 2, output
    trail = gdpr_vault("verify-trail")
    assert trail.returncode == 0, trail.stderr
    jobs = subprocess.run(
        [sys.executable, "-c", _COUNT_CHECKPOINTS],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=True,
    )
    assert jobs.stdout.split() == ["1", "done"]


_COUNT_CHECKPOINTS = """
import asyncio
from gdpr_vault.jobs.tables import Job
rows = asyncio.run(Job.select(Job.status).where(Job.kind == "trail.checkpoint").run())
print(len(rows), *{r["status"] for r in rows})
"""


def test_worker_refuses_zero_processes():
    result = gdpr_vault("worker", "--processes", "0")
    assert result.returncode == 2
    assert "--processes" in result.stderr


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _supervised(count: int = 2) -> tuple[subprocess.Popen[str], list[int]]:
    env = {**os.environ, "WORKER_POLL_SECONDS": "0.05"}
    parent = subprocess.Popen(
        [sys.executable, "-m", "gdpr_vault.cli", "worker", "--processes", str(count)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = _children(parent.pid)
        if len(children) == count:
            time.sleep(1.0)  # their event loops and signal handlers are up
            return parent, children
        time.sleep(0.1)
    parent.kill()
    raise AssertionError("the workers did not start")


def _gone(pids: list[int], seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.usefixtures("db")
def test_sigterm_stops_the_set_cleanly():
    parent, children = _supervised()
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=60) == 0
    assert _gone(children)


@pytest.mark.usefixtures("db")
def test_a_worker_killed_stops_its_sibling_and_the_set_reports_it():
    """As the OOM killer would: the set stops at once with 128 + 9, for a restart at full
    strength, rather than running on at half capacity and exiting 0 later."""
    parent, children = _supervised()
    os.kill(children[0], signal.SIGKILL)
    assert parent.wait(timeout=60) == 128 + signal.SIGKILL
    assert _gone(children)
    assert "stopping the others" in parent.stderr.read()


@pytest.mark.usefixtures("db")
def test_workers_stop_when_their_supervisor_dies():
    parent, children = _supervised()
    parent.kill()
    parent.wait(timeout=30)
    assert _gone(children), "orphaned workers kept running"
