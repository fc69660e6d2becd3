"""The console script: tokens for scripts, deadlines, trail verification, demo data."""

from __future__ import annotations

import json

from gdpr_vault.cli import main


async def _noop() -> None:
    return None


def test_deadline_command_gives_the_domain_example(capsys):
    assert main(["deadline", "2026-03-28T22:30:00+01:00", "48 hours", "--tz", "Europe/Paris"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["deadline"] == "2026-03-30T21:30:00Z"
    assert out["deadline_local"].startswith("2026-03-30T23:30:00+02:00")


def test_deadline_command_refuses_naive_start(capsys):
    assert main(["deadline", "2026-03-28T22:30:00", "48 hours"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "offset" in err.lower()
