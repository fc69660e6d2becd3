"""CLI commands that touch the database, run in a subprocess like an operator would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

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
    started = {
        match.group(1)
        for line in output.splitlines()
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
