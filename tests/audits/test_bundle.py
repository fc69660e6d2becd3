"""Evidence bundles: nothing about another client, safe entry names, periods, public keys."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

from exporters.signing import generate_key
from gdpr_vault.audits import service as audits
from gdpr_vault.audits.schemas import AuditorIn, AuditRequestIn, DecisionIn
from gdpr_vault.auth.tokens import Principal
from gdpr_vault.evidence.verify import entry_name_error, verify_path
from gdpr_vault.registers import service as registers
from gdpr_vault.registers.schemas import ActivityIn
from tests.api.conftest import make_client

B_ACTIVITY = "Paie des adhérents Horizon"


async def bundle_of(api, client_id: str, headers: dict, query: str = "") -> bytes:
    response = await api.get(
        f"/api/v1/clients/{client_id}/evidence-bundle.zip{query}", headers=headers
    )
    assert response.status_code == 200, response.text
    return response.content


async def audit_for(
    client_id: str, clock, accept: bool, auditor: str = "Anne Lenoir"
) -> tuple[str, str | None]:
    from gdpr_vault.contracts.service import list_contracts

    contract = (await list_contracts(client_id))[0]["id"]
    now = clock()
    dpo = Principal("tok_test", "dpo", None, "test")
    created = await audits.request_audit(
        client_id,
        AuditRequestIn(
            contract_id=contract,
            scope="Security of the hosting",
            areas=["security_measures"],
            auditor=AuditorIn(
                name=auditor, email=f"{auditor.split()[0].lower()}@audit.example", firm="HZ"
            ),
            kind="documentary",
            proposed_start=now + timedelta(days=10),
            proposed_end=now + timedelta(days=12),
        ),
        dpo,
        now,
    )
    if not accept:
        return created["id"], None
    decided = await audits.decide(client_id, created["id"], DecisionIn(decision="accept"), "t", now)
    return created["id"], decided["auditor_token"]["id"]


def entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


async def test_nothing_in_a_bundle_concerns_another_client(api, tokens, clock, tmp_path: Path):
    a, b = tokens.client_a_id, tokens.client_b_id
    now = clock()
    await registers.create_activity(
        ActivityIn(
            reference="REG-SHARED",
            name="Hébergement des dossiers",
            reason="initial register",
            security_measures=["encryption at rest", "MFA for administrators"],
            client_ids=[a, b],
        ),
        "dpo:test",
        now,
    )
    only_b = await registers.create_activity(
        ActivityIn(
            reference="REG-B",
            name=B_ACTIVITY,
            reason="initial register",
            security_measures=["HSM"],
            client_ids=[b],
        ),
        "dpo:test",
        now,
    )
    b_audit, b_token = await audit_for(b, clock, accept=True, auditor="Paul Horizon")
    a_audit, _ = await audit_for(a, clock, accept=False)
    b_client = (await api.get(f"/api/v1/clients/{b}", headers=tokens.header(tokens.dpo))).json()

    data = await bundle_of(api, a, tokens.header(tokens.client_a))
    files = entries(data)
    assert "register/register.json" in files
    assert json.loads(files["security-measures.json"])["activities"][0]["security_measures"] == [
        "encryption at rest",
        "MFA for administrators",
    ]
    assert a_audit.encode() in files["audits/audits.json"]
    secrets = [
        b,
        b_client["legal_name"],
        b_client["contracts"][0]["id"],
        b_audit,
        b_token,
        only_b["activity_id"],
        B_ACTIVITY,
        "Paul Horizon",
        "paul@audit.example",
    ]
    for secret in secrets:
        needle = str(secret).encode()
        assert needle not in data, secret
        for name, content in files.items():
            assert needle not in content, (secret, name)
    path = tmp_path / "a.zip"
    path.write_bytes(data)
    assert verify_path(path)["ok"]


async def test_entry_names_never_escape_the_root(api, tokens, tmp_path: Path):
    evil = await make_client(
        api,
        tokens.dpo,
        legal_name="Evil Names SA",
        contract={
            "reference": "../../../etc/passwd\\..\\x",
            "preset": "opensafe",
            "start_date": "2026-01-01",
        },
    )
    headers = tokens.header(tokens.dpo)
    data = await bundle_of(api, evil["id"], headers)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert all(entry_name_error(n) is None for n in names), names
        archive.extractall(tmp_path / "out")
    contract_files = [n for n in names if n.startswith("contracts/")]
    assert contract_files and all(".." not in n for n in contract_files)
    assert all(p.resolve().is_relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*"))


async def test_period_and_offline_keys(api, tokens, clock, tmp_path: Path):
    a = tokens.client_a_id
    headers = tokens.header(tokens.client_a)
    before = clock()
    clock.set(before + timedelta(days=1))
    await audit_for(a, clock, accept=False)
    clock.set(before + timedelta(days=2))

    cut = (before + timedelta(hours=12)).isoformat().replace("+00:00", "Z")
    early = await bundle_of(api, a, headers, f"?as_of={cut}")
    files = entries(early)
    assert json.loads(files["audits/audits.json"]) == []
    actions = [json.loads(line)["action"] for line in files["trail/events.jsonl"].splitlines()]
    assert "audit.requested" not in actions and "client.created" in actions
    manifest = json.loads(files["manifest.json"])
    assert manifest["period"] == {"as_of": cut}
    assert "reversibility" in manifest["sections"]

    window = await bundle_of(
        api,
        a,
        headers,
        f"?from={cut}&to={(before + timedelta(days=2)).isoformat().replace('+00:00', 'Z')}",
    )
    actions = [
        json.loads(line)["action"] for line in entries(window)["trail/events.jsonl"].splitlines()
    ]
    assert "audit.requested" in actions and "client.created" not in actions

    path = tmp_path / "window.zip"
    path.write_bytes(window)
    keys = await api.get("/api/v1/keys")
    keyring = tmp_path / "keys.json"
    keyring.write_text(keys.text)
    assert verify_path(path, keyring)["ok"]
    stranger = tmp_path / "other.pem"
    stranger.write_bytes(generate_key().public_pem())
    refused = verify_path(path, stranger)
    assert not refused["ok"]


async def test_a_forged_event_is_caught_even_when_re_zipped(api, tokens, tmp_path: Path):
    """Rewrite events.jsonl and the manifest's digest: the signature no longer matches."""
    data = await bundle_of(api, tokens.client_a_id, tokens.header(tokens.client_a))
    files = entries(data)
    lines = files["trail/events.jsonl"].splitlines()
    event = json.loads(lines[0])
    event["actor"] = "dpo:someone-else"
    lines[0] = json.dumps(event, sort_keys=True).encode()
    files["trail/events.jsonl"] = b"\n".join(lines) + b"\n"
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(forged, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    report = verify_path(forged)
    assert not report["ok"]
    assert any("events.jsonl" in p for p in report["problems"])
