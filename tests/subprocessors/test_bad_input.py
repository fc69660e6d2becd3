"""Refusals: clear problem+json naming the field and the rule, and nothing written."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import httpx

from gdpr_vault.app import create_app
from gdpr_vault.evidence.tables import TrailEvent
from gdpr_vault.settings import get_settings
from gdpr_vault.subprocessors.tables import (
    Subprocessor,
    SubprocessorChange,
    SubprocessorObjection,
)
from tests.subprocessors.conftest import SUB_BODY, bearer, create_sub, draft, make_client, receipt


def assert_problem(response: httpx.Response, status: int, field: str, rule: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert (body.get("field"), body.get("rule")) == (field, rule), body
    return body


async def _published(api, tokens, clock) -> str:
    sub = await create_sub(api, tokens.dpo)
    created = await draft(
        api,
        tokens.dpo,
        kind="add",
        subprocessor_id=sub["id"],
        effective_date="2026-05-01",
        client_ids=[tokens.client_a_id],
    )
    change_id = created.json()["id"]
    response = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/publish", headers=bearer(tokens.dpo)
    )
    assert response.status_code == 200, response.text
    return change_id


async def test_unknown_countries_and_missing_transfer_mechanism(api, tokens):
    dpo = tokens.dpo
    events = await TrailEvent.count()
    bad = await api.post(
        "/api/v1/subprocessors", json={**SUB_BODY, "country": "XX"}, headers=bearer(dpo)
    )
    assert_problem(bad, 422, "country", "iso-3166-1-alpha-2")
    lower = await api.post(
        "/api/v1/subprocessors", json={**SUB_BODY, "country": "fr"}, headers=bearer(dpo)
    )
    assert_problem(lower, 422, "country", "iso-3166-1-alpha-2")
    hosting = await api.post(
        "/api/v1/subprocessors",
        json={**SUB_BODY, "hosting_locations": ["FR", "EU"]},
        headers=bearer(dpo),
    )
    assert_problem(hosting, 422, "hosting_locations[1]", "iso-3166-1-alpha-2")
    us = await api.post(
        "/api/v1/subprocessors", json={**SUB_BODY, "hosting_locations": ["US"]}, headers=bearer(dpo)
    )
    assert (
        "outside the EEA"
        in assert_problem(us, 422, "transfer_mechanism", "transfer-mechanism")["detail"]
    )
    assert await Subprocessor.count() == 0 and await TrailEvent.count() == events
    ok = await api.post(
        "/api/v1/subprocessors",
        json={**SUB_BODY, "hosting_locations": ["US"], "transfer_mechanism": "scc-2021-module-3"},
        headers=bearer(dpo),
    )
    assert ok.status_code == 201 and ok.json()["outside_eea"] == ["US"]


async def test_change_bad_inputs_write_nothing(api, tokens):
    dpo = tokens.dpo
    sub = await create_sub(api, dpo)
    events = await TrailEvent.count()
    base = {"kind": "add", "subprocessor_id": sub["id"], "client_ids": [tokens.client_a_id]}
    early = await draft(api, dpo, **base, effective_date="2026-03-20")
    body = assert_problem(early, 422, "effective_date", "effective-date-before-window-end")
    assert body["errors"] == [
        {
            "client_id": tokens.client_a_id,
            "rule": "effective-date-before-window-end",
            "detail": body["errors"][0]["detail"],
            "field": "effective_date",
        }
    ]
    assert "2026-04-03" in body["detail"]
    nobody = await draft(api, dpo, **{**base, "client_ids": []}, effective_date="2026-05-01")
    assert_problem(nobody, 422, "client_ids", "no-affected-client")
    removal = await draft(
        api,
        dpo,
        kind="relocate",
        subprocessor_id=sub["id"],
        hosting_locations=["FR"],
        effective_date="2026-05-01",
    )
    assert_problem(removal, 409, "subprocessor_id", "active")
    unknown = await draft(
        api,
        dpo,
        **{**base, "client_ids": ["cli_00000000000000000000000000"]},
        effective_date="2026-05-01",
    )
    assert_problem(unknown, 422, "client_ids[0]", "known-client")
    country = await draft(api, dpo, **base, hosting_locations=["ZZ"], effective_date="2026-05-01")
    assert_problem(country, 422, "hosting_locations[0]", "iso-3166-1-alpha-2")
    no_activity = await draft(api, dpo, **base, activities=[], effective_date="2026-05-01")
    assert_problem(no_activity, 422, "activities", "notice-content")
    assert await SubprocessorChange.count() == 0 and await TrailEvent.count() == events


async def test_transfer_prohibited_by_a_clients_contract(api, tokens):
    dpo = tokens.dpo
    ips = await make_client(
        api,
        dpo,
        legal_name="Santé Travail Ouest",
        contract={"reference": "IPS-1", "preset": "ips", "start_date": "2026-01-01"},
    )
    sub = await create_sub(
        api, dpo, hosting_locations=["US"], transfer_mechanism="scc-2021-module-3"
    )
    refused = await draft(
        api,
        dpo,
        kind="add",
        subprocessor_id=sub["id"],
        effective_date="2026-05-01",
        client_ids=[tokens.client_a_id, ips["id"]],
    )
    body = assert_problem(refused, 422, "hosting_locations", "third-country-transfer-prohibited")
    assert [e["client_id"] for e in body["errors"]] == [ips["id"]]


async def test_objection_without_reasons_and_late_objection(api, tokens, clock):
    change_id = await _published(api, tokens, clock)
    a = tokens.client_a_id
    url = f"/api/v1/clients/{a}/subprocessor-changes/{change_id}/objection"
    for reasons in ("", "   ", "no"):
        empty = await api.post(url, json={"reasons": reasons}, headers=bearer(tokens.client_a))
        assert_problem(empty, 422, "reasons", "objection-reasons")
    missing = await api.post(url, json={}, headers=bearer(tokens.client_a))
    assert_problem(missing, 422, "reasons", "objection-reasons")
    backdated = await api.post(
        url,
        json={"reasons": "We object for good reasons.", "received_at": "2026-03-01T00:00:00Z"},
        headers=bearer(tokens.client_a),
    )
    assert_problem(backdated, 422, "received_at", "role:dpo")
    assert await SubprocessorObjection.count() == 0

    await receipt(api, tokens.dpo, change_id, a, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    clock.set(datetime(2026, 4, 3, 8, 0, tzinfo=UTC))  # the window ended 2 April 24:00 Paris
    late = await api.post(
        url, json={"reasons": "We object, albeit late."}, headers=bearer(tokens.client_a)
    )
    assert late.status_code == 201 and late.json()["late"] is True
    mine = await api.get(
        f"/api/v1/clients/{a}/subprocessor-changes/{change_id}", headers=bearer(tokens.client_a)
    )
    assert mine.json()["mine"]["state"] == "received"  # not blocking
    clock.set(datetime(2026, 5, 1, 8, 0, tzinfo=UTC))
    activated = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/activation",
        json={"client_ids": [a]},
        headers=bearer(tokens.dpo),
    )
    assert activated.status_code == 200, activated.text
    assert activated.json()["activated"] == [a]


async def test_written_objection_recorded_by_the_dpo_and_naive_dates(api, tokens, clock):
    change_id = await _published(api, tokens, clock)
    naive = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/receipts",
        json={"client_id": tokens.client_a_id, "received_at": "2026-03-02T09:00:00"},
        headers=bearer(tokens.dpo),
    )
    assert_problem(naive, 422, "received_at", "offset-required")
    clock.set(datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    written = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/objections",
        json={
            "client_id": tokens.client_a_id,
            "reasons": "Registered letter of 3 March: the host is not HDS certified.",
            "received_at": "2026-03-03T10:00:00+01:00",
        },
        headers=bearer(tokens.dpo),
    )
    assert written.status_code == 201, written.text
    assert written.json()["channel"] == "written" and written.json()["late"] is False
    second = await api.post(
        f"/api/v1/clients/{tokens.client_a_id}/subprocessor-changes/{change_id}/objection",
        json={"reasons": "Same objection, sent again."},
        headers=bearer(tokens.client_a),
    )
    assert_problem(second, 409, None, "objection-already-open")
    other = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/objections",
        json={"client_id": tokens.client_b_id, "reasons": "Not concerned by this change."},
        headers=bearer(tokens.dpo),
    )
    assert_problem(other, 404, "client_id", None)
    # withdrawal lets the change proceed once the window closes
    objection_id = written.json()["id"]
    resolved = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/objections/{objection_id}/resolution",
        json={"resolution": "withdrawn", "note": "Client withdrew by e-mail"},
        headers=bearer(tokens.dpo),
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"


async def test_abandon_on_objection_and_public_list(api, tokens, clock):
    change_id = await _published(api, tokens, clock)
    objection = await api.post(
        f"/api/v1/clients/{tokens.client_a_id}/subprocessor-changes/{change_id}/objection",
        json={"reasons": "We refuse this sub-processor."},
        headers=bearer(tokens.client_a),
    )
    resolved = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/objections/{objection.json()['id']}/resolution",
        json={"resolution": "change_abandoned"},
        headers=bearer(tokens.dpo),
    )
    assert resolved.status_code == 200 and resolved.json()["resolution"] == "change_abandoned"
    change = await api.get(f"/api/v1/subprocessor-changes/{change_id}", headers=bearer(tokens.dpo))
    assert change.json()["status"] == "abandoned"
    assert change.json()["clients"]["by_state"]["resolved"] == 1

    active = await create_sub(
        api,
        tokens.dpo,
        legal_name="Mailer Europe SA",
        status="active",
        client_ids=[tokens.client_b_id],
        active_since="2025-06-01T00:00:00Z",
    )
    settings = dataclasses.replace(get_settings(), public_subprocessor_list=True)
    app = create_app(settings, clock, run_worker_in_process=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as public:
        listed = await public.get("/api/v1/public/subprocessors")
        assert listed.status_code == 200
        assert [i["legal_name"] for i in listed.json()["items"]] == ["Mailer Europe SA"]
        assert tokens.client_b_id not in listed.text
        page = await public.get("/api/v1/public/subprocessors.html")
        assert page.status_code == 200 and "Mailer Europe SA" in page.text
    off = await api.get("/api/v1/public/subprocessors")
    assert off.status_code in (401, 404)
    as_of = await api.get(
        f"/api/v1/clients/{tokens.client_b_id}/subprocessors",
        params={"as_of": "2025-07-01T00:00:00Z"},
        headers=bearer(tokens.client_b),
    )
    assert [i["subprocessor_id"] for i in as_of.json()["items"]] == [active["id"]]
    naive = await api.get(
        f"/api/v1/clients/{tokens.client_b_id}/subprocessors",
        params={"as_of": "2025-07-01T00:00:00"},
        headers=bearer(tokens.client_b),
    )
    assert_problem(naive, 422, "as_of", "offset-required")
