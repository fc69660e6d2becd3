"""An opensafe client's audit from request to an offline-verified evidence bundle."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path

from gdpr_vault.evidence.verify import verify_path

DPA_QUOTE = "dans la limite d’un audit par an"
AUDITOR = {"name": "Jeanne Vérif", "email": "jeanne@cabinet-audit.example", "firm": "Cabinet Audit"}


async def contract_of(api, tokens, client_id: str) -> str:
    client = await api.get(f"/api/v1/clients/{client_id}", headers=tokens.header(tokens.dpo))
    return client.json()["contracts"][0]["id"]


def request_body(contract_id: str, start: str, end: str, **changes: object) -> dict:
    return {
        "contract_id": contract_id,
        "scope": "Security measures protecting our patients' data",
        "areas": ["security_measures", "access_control", "backups"],
        "auditor": AUDITOR,
        "kind": "documentary",
        "proposed_start": start,
        "proposed_end": end,
        **changes,
    }


def flip_byte_in(data: bytes, entry: str) -> bytes:
    """Change one byte in the middle of an entry's compressed data."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(entry)
    header = info.header_offset
    name_length = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_length = int.from_bytes(data[header + 28 : header + 30], "little")
    start = header + 30 + name_length + extra_length
    position = start + info.compress_size // 2
    tampered = bytearray(data)
    tampered[position] ^= 0x01
    return bytes(tampered)


async def test_opensafe_audit_end_to_end(api, tokens, clock, tmp_path: Path):
    a = tokens.client_a_id
    contract = await contract_of(api, tokens, a)
    client_headers = tokens.header(tokens.client_a)
    dpo = tokens.header(tokens.dpo)

    first = await api.post(
        f"/api/v1/clients/{a}/audits",
        json=request_body(contract, "2026-04-06T09:00:00+02:00", "2026-04-10T18:00:00+02:00"),
        headers=client_headers,
    )
    assert first.status_code == 201, first.text
    first = first.json()
    assert first["status"] == "requested"
    assert first["proposal"]["decision"] == "accept"
    assert first["decision_due"]["display"].startswith("2026-03-16")  # 10 business days

    second = await api.post(
        f"/api/v1/clients/{a}/audits",
        json=request_body(contract, "2026-09-07T09:00:00+02:00", "2026-09-08T18:00:00+02:00"),
        headers=client_headers,
    )
    assert second.status_code == 201, second.text
    second = second.json()
    assert second["proposal"]["decision"] == "refuse"
    reason = second["proposal"]["reasons"][0]
    assert reason["rule"] == "max-per-year"
    assert reason["clause"]["seed"] == "004_5c0d68e6a7a01a79.txt"
    assert reason["clause"]["article"] == "DPA, Audits"
    assert DPA_QUOTE in reason["clause"]["quote"]

    refused = await api.post(
        f"/api/v1/clients/{a}/audits/{second['id']}/decision",
        json={"decision": "refuse", "reason": "One audit per year is already requested"},
        headers=dpo,
    )
    assert refused.status_code == 200, refused.text
    assert refused.json()["status"] == "refused"
    assert DPA_QUOTE in refused.json()["decision_reason"]
    assert "auditor_token" not in refused.json()

    again = await api.post(
        f"/api/v1/clients/{a}/audits/{second['id']}/decision",
        json={"decision": "accept"},
        headers=dpo,
    )
    assert again.status_code == 409
    assert again.json()["rule"] == "accept-from-requested"

    accepted = await api.post(
        f"/api/v1/clients/{a}/audits/{first['id']}/decision",
        json={"decision": "accept"},
        headers=dpo,
    )
    assert accepted.status_code == 200, accepted.text
    accepted = accepted.json()
    assert accepted["status"] == "accepted"
    token = accepted["auditor_token"]
    assert token["expires_at"] == "2026-04-10T16:00:00Z"
    auditor = {"Authorization": f"Bearer {token['token']}"}

    seen = await api.get(f"/api/v1/clients/{a}/audits/{first['id']}", headers=auditor)
    assert seen.status_code == 200
    assert "auditor_token" not in seen.json()

    bundle = await api.get(f"/api/v1/clients/{a}/evidence-bundle.zip", headers=auditor)
    assert bundle.status_code == 200, bundle.text
    assert bundle.headers["content-type"].startswith("application/zip")
    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle.content)
    report = verify_path(path)
    assert report["ok"], report
    assert report["trail"]["client_events"] >= 5
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        assert {"manifest.json", "manifest.dsse.json", "trail/chain.jsonl"} <= names
        assert "audits/audits.json" in names
        assert any(n.endswith("/terms-v1.json") for n in names)

    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(flip_byte_in(bundle.content, "trail/events.jsonl"))
    assert not verify_path(tampered)["ok"]
    tampered.write_bytes(flip_byte_in(bundle.content, "audits/audits.json"))
    assert not verify_path(tampered)["ok"]

    b = tokens.client_b_id
    for path_b in (f"/api/v1/clients/{b}", f"/api/v1/clients/{b}/audits"):
        other = await api.get(path_b, headers=auditor)
        assert other.status_code == 404, path_b
    write = await api.post(
        f"/api/v1/clients/{a}/audits/{first['id']}/start", json={}, headers=auditor
    )
    assert write.status_code == 403

    log = await api.get(f"/api/v1/clients/{a}/audits/access-log", headers=client_headers)
    assert log.status_code == 200
    entries = log.json()["items"]
    assert [(e["method"], e["status"]) for e in entries] == [
        ("GET", 200),
        ("GET", 200),
        ("GET", 404),
        ("GET", 404),
        ("POST", 403),
    ]
    assert entries[1]["path"] == f"/api/v1/clients/{a}/evidence-bundle.zip"
    assert all(e["token_id"] == token["id"] and e["audit_id"] == first["id"] for e in entries)
    assert b not in log.text  # refused requests keep the route template only
    trail = await api.get(f"/api/v1/clients/{a}/trail?limit=1000", headers=client_headers)
    accessed = [e for e in trail.json()["items"] if e["action"] == "auditor.accessed"]
    assert len(accessed) == len(entries)
    assert [e["seq"] for e in accessed] == [e["trail_seq"] for e in entries]

    clock.set(datetime.fromisoformat("2026-04-10T16:00:01+00:00"))
    expired = await api.get(f"/api/v1/clients/{a}/audits/{first['id']}", headers=auditor)
    assert expired.status_code == 401


async def test_lifecycle_findings_and_overdue_remediation(api, tokens, clock):
    a = tokens.client_a_id
    dpo = tokens.header(tokens.dpo)
    contract = await contract_of(api, tokens, a)
    created = await api.post(
        f"/api/v1/clients/{a}/audits",
        json=request_body(
            contract, "2026-03-09T09:00:00+01:00", "2026-03-13T18:00:00+01:00", kind="on_site"
        ),
        headers=dpo,
    )
    assert created.status_code == 201, created.text
    audit = created.json()["id"]
    base = f"/api/v1/clients/{a}/audits/{audit}"

    early = await api.post(f"{base}/findings", json=finding("high"), headers=dpo)
    assert early.status_code == 409 and early.json()["rule"] == "findings-open"
    assert (await api.post(f"{base}/start", json={}, headers=dpo)).json()["rule"] == (
        "start-from-scheduled"
    )

    assert (await api.post(f"{base}/decision", json={"decision": "accept"}, headers=dpo)).is_success
    too_long = await api.post(
        f"{base}/schedule", json={"end": "2026-03-20T18:00:00+01:00"}, headers=dpo
    )
    assert too_long.status_code == 422 and too_long.json()["rule"] == "within-accepted-window"
    scheduled = await api.post(f"{base}/schedule", json={"notes": "Room 2"}, headers=dpo)
    assert scheduled.json()["status"] == "scheduled"
    assert (await api.post(f"{base}/start", json={}, headers=dpo)).json()["status"] == "in_progress"

    critical = await api.post(f"{base}/findings", json=finding("critical"), headers=dpo)
    assert critical.status_code == 201, critical.text
    critical = critical.json()
    assert critical["due_source"] == "product_default"
    assert critical["due_display"].startswith("2026-03-16")
    low = (await api.post(f"{base}/findings", json=finding("low"), headers=dpo)).json()
    assert low["due_display"].startswith("2026-06-02")

    report = await api.post(f"{base}/report", json={"note": "2 findings"}, headers=dpo)
    assert report.json()["status"] == "findings"
    refused_close = await api.post(f"{base}/close", json={}, headers=dpo)
    assert refused_close.status_code == 409 and refused_close.json()["rule"] == "findings-resolved"
    assert (await api.post(f"{base}/remediate", json={}, headers=dpo)).json()["status"] == (
        "remediation"
    )

    clock.set(datetime.fromisoformat("2026-03-20T10:00:00+01:00"))
    overdue = await api.get("/api/v1/audits/findings?overdue=true", headers=dpo)
    assert [f["id"] for f in overdue.json()["items"]] == [critical["id"]]
    assert overdue.json()["items"][0]["overdue"] is True
    listing = await api.get("/api/v1/audits/findings", headers=tokens.header(tokens.client_a))
    assert listing.status_code == 403

    no_evidence = await api.post(
        f"{base}/findings/{critical['id']}/status", json={"status": "resolved"}, headers=dpo
    )
    assert no_evidence.status_code == 422 and no_evidence.json()["rule"] == "evidence-required"
    for finding_id in (critical["id"], low["id"]):
        moved = await api.post(
            f"{base}/findings/{finding_id}/status",
            json={"status": "resolved", "evidence": "MFA enforced; ticket SEC-42"},
            headers=dpo,
        )
        assert moved.status_code == 200, moved.text
    back = await api.post(
        f"{base}/findings/{low['id']}/status", json={"status": "in_progress"}, headers=dpo
    )
    assert back.status_code == 409 and back.json()["rule"] == "finding-resolved-to-in_progress"
    assert (await api.get("/api/v1/audits/findings?overdue=true", headers=dpo)).json()[
        "items"
    ] == []
    closed = await api.post(f"{base}/close", json={}, headers=dpo)
    assert closed.json()["status"] == "closed"

    actions = [
        e["action"]
        for e in (await api.get(f"/api/v1/clients/{a}/trail?limit=1000", headers=dpo)).json()[
            "items"
        ]
        if e["action"].startswith("audit.")
    ]
    assert actions == [
        "audit.requested",
        "audit.accepted",
        "audit.scheduled",
        "audit.in_progress",
        "audit.finding_added",
        "audit.finding_added",
        "audit.findings",
        "audit.remediation",
        "audit.finding_resolved",
        "audit.finding_resolved",
        "audit.closed",
    ]


def finding(severity: str) -> dict:
    return {
        "severity": severity,
        "description": f"A {severity} gap in access reviews",
        "owner": "Head of IT",
    }


async def test_bad_input(api, tokens):
    a = tokens.client_a_id
    contract = await contract_of(api, tokens, a)
    url = f"/api/v1/clients/{a}/audits"
    headers = tokens.header(tokens.client_a)

    naive = await api.post(
        url,
        json=request_body(contract, "2026-04-06T09:00:00", "2026-04-10T18:00:00+02:00"),
        headers=headers,
    )
    assert naive.status_code == 422
    assert (naive.json()["field"], naive.json()["rule"]) == ("proposed_start", "offset-required")

    unknown = await api.post(
        url,
        json=request_body(
            "ctr_00000000000000000000000000", "2026-04-06T09:00:00Z", "2026-04-07T09:00:00Z"
        ),
        headers=headers,
    )
    assert unknown.status_code == 422
    assert (unknown.json()["field"], unknown.json()["rule"]) == ("contract_id", "known-contract")
    b_contract = await contract_of(api, tokens, tokens.client_b_id)
    foreign = await api.post(
        url,
        json=request_body(b_contract, "2026-04-06T09:00:00Z", "2026-04-07T09:00:00Z"),
        headers=headers,
    )
    assert foreign.status_code == 422 and foreign.json()["rule"] == "known-contract"

    backwards = await api.post(
        url,
        json=request_body(contract, "2026-04-07T09:00:00Z", "2026-04-06T09:00:00Z"),
        headers=headers,
    )
    assert backwards.status_code == 422 and backwards.json()["rule"] == "audit-dates"

    bad_area = await api.post(
        url,
        json=request_body(
            contract, "2026-04-06T09:00:00Z", "2026-04-07T09:00:00Z", areas=["Pricing!"]
        ),
        headers=headers,
    )
    assert bad_area.status_code == 422 and bad_area.json()["field"] == "areas[0]"

    outside = await api.post(
        url,
        json=request_body(
            contract,
            "2026-04-06T09:00:00Z",
            "2026-04-07T09:00:00Z",
            areas=["security_measures", "pricing"],
        ),
        headers=headers,
    )
    assert outside.status_code == 201
    proposal = outside.json()["proposal"]
    assert proposal["decision"] == "refuse"
    assert proposal["flags"] == ["outside-scope:pricing"]
    assert proposal["reasons"][0]["rule"] == "scope-limit"

    no_reason = await api.post(
        f"{url}/{outside.json()['id']}/decision",
        json={"decision": "refuse"},
        headers=tokens.header(tokens.dpo),
    )
    assert no_reason.status_code == 422 and no_reason.json()["rule"] == "reason-required"
    client_decides = await api.post(
        f"{url}/{outside.json()['id']}/decision", json={"decision": "accept"}, headers=headers
    )
    assert client_decides.status_code == 403

    for query in (
        "as_of=2026-03-01T00:00:00",
        "as_of=2027-01-01T00:00:00Z",
        "as_of=x",
        "as_of=2026-03-01T00:00:00Z&to=2026-03-01T00:00:00Z",
        "from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z",
    ):
        response = await api.get(
            f"/api/v1/clients/{a}/evidence-bundle.zip?{query}", headers=headers
        )
        assert response.status_code == 422, query
    missing = await api.get(f"{url}/aud_00000000000000000000000000", headers=headers)
    assert missing.status_code == 404
