"""Exports (JSON, CSV with BOM, printable HTML), their signatures, and import round trips."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

from gdpr_vault.evidence.verify import verify_path
from tests.registers.conftest import entry_body, h

REG = "/api/v1/register"


async def seed(api, tokens, subprocessors):
    shared = await api.post(
        f"{REG}/activities",
        json=entry_body(
            client_ids=[tokens.client_a_id, tokens.client_b_id],
            subprocessors=[{"subprocessor_id": subprocessors["host"], "activities": "hébergement"}],
        ),
        headers=h(tokens.dpo),
    )
    own = await api.post(
        f"{REG}/activities",
        json=entry_body(
            reference="RT-002",
            name="Support utilisateurs — Clinique",
            client_ids=[tokens.client_a_id],
            transfers=[{"country": "US", "recipient": "Helpdesk Inc.", "safeguard": None}],
        ),
        headers=h(tokens.dpo),
    )
    assert shared.status_code == own.status_code == 201
    return shared.json(), own.json()


async def download(api, url, token, tmp_path: Path, **params):
    response = await api.get(url, headers=h(token), params=params)
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    name = disposition.split('filename="')[1].rstrip('"')
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_bytes(response.content)
    link = response.headers["link"]
    signature_url = link[link.index("<") + 1 : link.index(">")]
    assert response.headers["x-register-export-id"] in signature_url
    envelope = await api.get(signature_url, headers=h(token))
    assert envelope.status_code == 200, envelope.text
    (tmp_path / (name + ".dsse.json")).write_text(json.dumps(envelope.json()))
    return path, response


async def test_client_csv_export_has_bom_and_verifies(api, tokens, subprocessors, tmp_path):
    await seed(api, tokens, subprocessors)
    path, response = await download(
        api, f"/api/v1/clients/{tokens.client_b_id}/register/export.csv", tokens.client_b, tmp_path
    )
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    raw = path.read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 1  # B has only the shared entry
    assert rows[0]["name"] == "Hébergement et infogérance de l'application RH"
    assert rows[0]["client_legal_name"] == "Mutuelle Horizon Ouest"
    assert rows[0]["register_scope"] == f"client:{tokens.client_b_id}"
    assert tokens.client_a_id not in raw.decode("utf-8-sig")
    assert verify_path(path)["ok"] is True
    flipped = bytearray(raw)
    flipped[-5] ^= 0x01
    path.write_bytes(bytes(flipped))
    report = verify_path(path)
    assert report["ok"] is False and "SHA-256" in report["problems"][0]


async def test_processor_exports_json_csv_html(api, tokens, subprocessors, tmp_path, clock):
    shared, _own = await seed(api, tokens, subprocessors)
    json_path, _ = await download(api, f"{REG}/export.json", tokens.dpo, tmp_path)
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert doc["schema_version"] == "1" and doc["kind"] == "processor-register"
    assert doc["generated_at"] == doc["as_of"] == "2026-03-02T09:00:00Z"
    assert [a["reference"] for a in doc["activities"]] == ["RT-001", "RT-002"]
    links = {c["client_id"]: c["activity_ids"] for c in doc["controllers"]}
    assert links[tokens.client_b_id] == [shared["activity_id"]]
    support = next(a for a in doc["activities"] if a["reference"] == "RT-002")
    assert any(
        f["rule"] == "transfer-safeguard-required" for f in support["completeness"]["findings"]
    )
    assert verify_path(json_path)["ok"]
    statement = verify_path(json_path)["statement"]
    assert statement["predicateType"] == "https://gdpr-vault.dev/register-export/v1"
    assert statement["predicate"]["as_of"] == "2026-03-02T09:00:00Z"

    csv_path, _ = await download(api, f"{REG}/export.csv", tokens.dpo, tmp_path)
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"))))
    assert sorted((r["reference"], r["client_id"]) for r in rows) == sorted(
        [
            ("RT-001", tokens.client_a_id),
            ("RT-001", tokens.client_b_id),
            ("RT-002", tokens.client_a_id),
        ]
    )
    assert verify_path(csv_path)["ok"]

    html_path, response = await download(api, f"{REG}/export.html", tokens.dpo, tmp_path)
    page = html_path.read_text(encoding="utf-8")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "Art. 30(2)(c)" in page and "Mutuelle Horizon Ouest" in page
    assert page.count("<section") == 2  # the shared entry appears once
    assert verify_path(html_path)["ok"]


async def test_export_as_of_past_state(api, tokens, subprocessors, tmp_path, clock):
    t0 = clock()
    shared, _ = await seed(api, tokens, subprocessors)
    clock.set(t0 + timedelta(days=3))
    body = entry_body(
        name="Nouveau nom",
        client_ids=[tokens.client_a_id, tokens.client_b_id],
        subprocessors=[{"subprocessor_id": subprocessors["host"], "activities": "hébergement"}],
        reason="renommage",
    )
    await api.put(f"{REG}/activities/{shared['activity_id']}", json=body, headers=h(tokens.dpo))
    path, _ = await download(
        api,
        f"/api/v1/clients/{tokens.client_a_id}/register/export.json",
        tokens.client_a,
        tmp_path,
        as_of=(t0 + timedelta(days=1)).isoformat(),
    )
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["as_of"] == "2026-03-03T09:00:00Z" and doc["generated_at"] == "2026-03-05T09:00:00Z"
    names = {a["reference"]: a["name"] for a in doc["activities"]}
    assert names["RT-001"] == "Hébergement et infogérance de l'application RH"
    future = await api.get(
        f"{REG}/export.json", params={"as_of": "2099-01-01T00:00:00Z"}, headers=h(tokens.dpo)
    )
    assert future.status_code == 422 and future.json()["field"] == "as_of"


async def test_signature_of_unknown_export_is_404(api, tokens):
    response = await api.get(
        f"{REG}/exports/rex_00000000000000000000000000/signature", headers=h(tokens.dpo)
    )
    assert response.status_code == 404


async def _wipe_register():
    from gdpr_vault.registers.tables import (
        ActivityClient,
        ActivitySubprocessor,
        ActivityVersion,
        ProcessingActivity,
    )

    for table in (ActivitySubprocessor, ActivityClient, ActivityVersion, ProcessingActivity):
        await table.delete(force=True)


def _comparable(doc: dict) -> dict:
    def strip(entry):
        return {
            k: v
            for k, v in entry.items()
            if k not in {"valid_from", "valid_to", "author", "reason"}
        }

    return {
        "activities": [strip(a) for a in doc["activities"]],
        "controllers": doc["controllers"],
    }


async def test_json_and_csv_import_round_trip(api, tokens, subprocessors, tmp_path, clock):
    from gdpr_vault.registers import service

    shared, _ = await seed(api, tokens, subprocessors)
    await service.apply_subprocessor_activation(
        subprocessors["support"],
        tokens.client_a_id,
        [shared["activity_id"]],
        activities="support",
        actor="t",
        now=clock(),
        reason="effective for A",
    )
    json_path, _ = await download(api, f"{REG}/export.json", tokens.dpo, tmp_path)
    csv_path, _ = await download(api, f"{REG}/export.csv", tokens.dpo, tmp_path)
    before = json.loads(json_path.read_text(encoding="utf-8"))

    same = await api.post(
        f"{REG}/import",
        params={"reason": "re-import"},
        content=json_path.read_bytes(),
        headers={**h(tokens.dpo), "content-type": "application/json"},
    )
    assert same.status_code == 200, same.text
    assert same.json()["unchanged"] == 2 and same.json()["created"] == 0, same.json()

    for path, content_type in ((json_path, "application/json"), (csv_path, "text/csv")):
        await _wipe_register()
        result = await api.post(
            f"{REG}/import",
            params={"reason": "restauration du registre"},
            content=path.read_bytes(),
            headers={**h(tokens.dpo), "content-type": content_type},
        )
        assert result.status_code == 200, result.text
        assert result.json()["created"] == 2
        again, _ = await download(
            api, f"{REG}/export.json", tokens.dpo, tmp_path / path.suffix.strip(".")
        )
        assert _comparable(json.loads(again.read_text(encoding="utf-8"))) == _comparable(before)


async def test_bad_import_changes_nothing_and_lists_line_and_field(
    api, tokens, subprocessors, tmp_path
):
    await seed(api, tokens, subprocessors)
    csv_path, _ = await download(api, f"{REG}/export.csv", tokens.dpo, tmp_path)
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"))))
    fields = list(rows[0].keys())
    good = dict(rows[0], activity_id="", reference="RT-100", client_id=tokens.client_a_id)
    bad = dict(rows[0], activity_id="", reference="RT-101", hosting_countries="FR\nXX")
    also_good = dict(rows[0], activity_id="", reference="RT-102", client_id=tokens.client_b_id)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    writer.writerow(good)
    bad_line = out.getvalue().count("\n") + 1  # good rows hold multi-line cells
    writer.writerows([bad, also_good])
    listing_before = (await api.get(REG, headers=h(tokens.dpo))).json()

    response = await api.post(
        f"{REG}/import",
        params={"reason": "import partiel"},
        content=out.getvalue().encode(),
        headers={**h(tokens.dpo), "content-type": "text/csv"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["errors"] == [
        {
            "line": bad_line,
            "field": "hosting_countries[1]",
            "rule": "iso-3166-1-alpha-2",
            "detail": "'XX' is not an ISO 3166-1 alpha-2 country code (e.g. FR, DE, US)",
        }
    ]
    assert (body["field"], body["rule"]) == ("hosting_countries[1]", "iso-3166-1-alpha-2")
    assert (await api.get(REG, headers=h(tokens.dpo))).json() == listing_before

    broken_json = json.dumps(
        {
            "schema_version": "1",
            "activities": [{"reference": "A", "name": "ok"}, {"reference": "B"}],
        }
    )
    response = await api.post(
        f"{REG}/import",
        params={"reason": "import"},
        content=broken_json,
        headers={**h(tokens.dpo), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert [(e["line"], e["field"]) for e in response.json()["errors"]] == [(2, "name")]
    assert (await api.get(REG, headers=h(tokens.dpo))).json() == listing_before


async def test_processor_csv_lists_entries_serving_nobody(api, tokens, tmp_path):
    created = await api.post(
        f"{REG}/activities", json=entry_body(reference="RT-900"), headers=h(tokens.dpo)
    )
    assert created.status_code == 201
    assert any(f["field"] == "client_ids" for f in created.json()["completeness"]["findings"])
    path, _ = await download(api, f"{REG}/export.csv", tokens.dpo, tmp_path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert [(r["reference"], r["client_id"]) for r in rows] == [("RT-900", "")]
    assert "Art. 30(2)(a)" in rows[0]["missing"]
