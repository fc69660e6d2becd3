"""``gdpr-vault register export / import`` through ``gdpr_vault.cli.main``."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from gdpr_vault.cli import main
from gdpr_vault.evidence.verify import verify_path
from tests.api.conftest import CLIENT_BODY
from tests.registers.conftest import entry_body

# The CLI runs its own event loop (and _seed another): no pool from the db fixture.
pytestmark = pytest.mark.other_loop


async def _seed() -> str:
    import msgspec

    from gdpr_vault.contracts.schemas import ClientIn
    from gdpr_vault.contracts.service import create_client
    from gdpr_vault.registers import service
    from gdpr_vault.registers.schemas import ActivityIn

    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    client = await create_client(msgspec.convert(CLIENT_BODY, ClientIn), "test", now)
    body = entry_body(client_ids=[client["id"]])
    await service.create_activity(msgspec.convert(body, ActivityIn), "test", now)
    return client["id"]


@pytest.mark.usefixtures("db")
def test_cli_export_verify_and_import(tmp_path, capsys):
    client_id = asyncio.run(_seed())
    out = tmp_path / "registre client.csv"
    assert (
        main(["register", "export", "--client", client_id, "--format", "csv", "--out", str(out)])
        == 0
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["signature"].endswith("registre client.csv.dsse.json")
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert verify_path(out)["ok"] is True
    assert main(["verify", str(out)]) == 0

    whole = tmp_path / "registre.json"
    assert (
        main(
            [
                "register",
                "export",
                "--format",
                "json",
                "--as-of",
                "2026-03-02T10:00:00+01:00",
                "--out",
                str(whole),
            ]
        )
        == 0
    )
    doc = json.loads(whole.read_text(encoding="utf-8"))
    assert doc["kind"] == "processor-register" and doc["as_of"] == "2026-03-02T09:00:00Z"
    assert len(doc["activities"]) == 1

    html = tmp_path / "registre.html"
    assert main(["register", "export", "--format", "html", "--out", str(html)]) == 0
    assert verify_path(html)["ok"] is True
    capsys.readouterr()

    assert (
        main(["register", "import", str(whole), "--author", "Marie DPO", "--reason", "contrôle"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["unchanged"] == 1


@pytest.mark.usefixtures("db")
def test_cli_refuses_bad_input_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": "9", "activities": []}))
    assert main(["register", "import", str(bad), "--author", "x", "--reason", "essai"]) == 2
    assert "schema_version" in capsys.readouterr().err
    missing = main(["register", "export", "--client", "cli_00000000000000000000000000"])
    assert missing == 2
    naive = main(
        ["register", "export", "--as-of", "2026-03-02T10:00:00", "--out", str(tmp_path / "x.json")]
    )
    assert naive == 2
