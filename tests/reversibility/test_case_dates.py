"""Dates a case cannot have are refused with 422 and change nothing (found by a black-box
review: a request 'received' in 2001 under a contract begun in 2026 made an export deadline
overdue at once and went onto the signed certificate)."""

from __future__ import annotations

from datetime import UTC, datetime

from gdpr_vault.evidence.tables import TrailEvent


async def test_case_and_request_dates_before_the_contract_are_refused(api, tokens, clock):
    client_id = tokens.client_a_id  # opensafe preset, contract 2026-01-01 to 2027-12-31
    dpo, client = tokens.header(tokens.dpo), tokens.header(tokens.client_a)
    cases = f"/api/v1/clients/{client_id}/reversibility/cases"
    events = await TrailEvent.count()
    for body, field in [
        ({"trigger": "termination", "contract_end": "2020-01-31"}, "contract_end"),
        (
            {"trigger": "termination", "termination_notified_at": "2025-12-31T22:59:00Z"},
            "termination_notified_at",
        ),
    ]:
        refused = await api.post(cases, json=body, headers=dpo)
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert (problem["field"], problem["rule"]) == (field, "before-contract-start"), problem
    assert (await api.get(cases, headers=dpo)).json()["items"] == []
    assert await TrailEvent.count() == events

    clock.set(datetime(2027, 12, 6, 9, 0, tzinfo=UTC))
    case = (await api.post(cases, json={"trigger": "client_request"}, headers=client)).json()
    before = (await api.get(f"{cases}/{case['id']}", headers=client)).json()
    events = await TrailEvent.count()
    refused = await api.post(
        f"{cases}/{case['id']}/request",
        json={"received_at": "2001-01-01T00:00:00Z"},
        headers=dpo,
    )
    assert refused.status_code == 422, refused.text
    assert (refused.json()["field"], refused.json()["rule"]) == (
        "received_at",
        "before-contract-start",
    )
    assert (await api.get(f"{cases}/{case['id']}", headers=client)).json() == before
    assert await TrailEvent.count() == events
