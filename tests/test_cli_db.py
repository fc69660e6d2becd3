"""CLI commands that touch the database, run in a subprocess like an operator would."""

from __future__ import annotations

import json
import os
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
