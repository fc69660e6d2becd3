"""Bad input is refused with problem+json naming field and rule, and nothing is written."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from gdpr_vault.breaches.tables import Breach, BreachFactsVersion, BreachNotice, BreachObligation
from tests.breaches.conftest import facts_body, make_client

NOW = datetime(2026, 3, 29, 8, 0, tzinfo=UTC)


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def counts() -> tuple[int, ...]:
    return tuple(
        [await t.count() for t in (Breach, BreachFactsVersion, BreachObligation, BreachNotice)]
    )


def problem(response, status: int, field: str, rule: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert (body.get("field"), body.get("rule")) == (field, rule), body


@pytest.fixture
async def breach(api, tokens, clock):
    clock.set(NOW)
    response = await api.post("/api/v1/breaches", json=facts_body(), headers=h(tokens.dpo))
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"aware_at": "2026-03-29T09:00:01Z"}, "aware_at", "not-in-future"),
        ({"occurred_at": "2026-03-28T23:00:00+01:00"}, "aware_at", "aware-after-occurrence"),
        ({"aware_at": "2026-03-28T22:30:00"}, "aware_at", "offset-required"),
        ({"occurred_at": "2026-03-28T20:00:00"}, "occurred_at", "offset-required"),
        ({"nature": ["confidentiality", "confidentiality"]}, "nature", "unique"),
        (
            {"per_client": [{"client_id": "cli_00000000000000000000000000"}]},
            "per_client[0].client_id",
            "known-client",
        ),
    ],
)
async def test_create_refuses_bad_facts(api, tokens, clock, changes, field, rule):
    clock.set(NOW)
    before = await counts()
    response = await api.post("/api/v1/breaches", json=facts_body(**changes), headers=h(tokens.dpo))
    problem(response, 422, field, rule)
    assert await counts() == before


async def test_schema_errors_name_the_field(api, tokens, clock):
    clock.set(NOW)
    response = await api.post(
        "/api/v1/breaches", json=facts_body(nature=["leak"]), headers=h(tokens.dpo)
    )
    assert response.status_code == 400 and response.json()["field"] == "nature[0]"
    response = await api.post(
        "/api/v1/breaches", json=facts_body(colour="red"), headers=h(tokens.dpo)
    )
    assert response.status_code == 400 and "colour" in response.text
    assert await Breach.count() == 0


async def test_correction_refuses_bad_changes_and_writes_nothing(api, tokens, clock, breach):
    url = f"/api/v1/breaches/{breach['id']}/corrections"
    cases = [
        ({"aware_at": "2026-03-30T00:00:00Z"}, "changes.aware_at", "not-in-future"),
        ({"aware_at": "2026-03-28T22:30:00"}, "changes.aware_at", "offset-required"),
        ({"colour": "red"}, "changes.colour", "unknown-field"),
        ({"data_subjects_approx": -1}, "changes.data_subjects_approx", "schema"),
        ({"title": breach["title"]}, "changes", "changes-something"),
    ]
    before = await counts()
    for changes, field, rule in cases:
        response = await api.post(
            url, json={"changes": changes, "reason": "typo"}, headers=h(tokens.dpo)
        )
        problem(response, 422, field, rule)
    assert await counts() == before


async def test_marking_refuses_unknown_clients_duplicates_and_foreign_contracts(
    api, tokens, clock, breach
):
    url = f"/api/v1/breaches/{breach['id']}/clients"
    a, b = tokens.client_a_id, tokens.client_b_id
    contract_of_b = (await api.get(f"/api/v1/clients/{b}/contracts", headers=h(tokens.dpo))).json()
    cases = [
        ([{"client_id": "cli_00000000000000000000000000"}], "clients[0].client_id", "known-client"),
        ([{"client_id": a}, {"client_id": "nope"}], "clients[1].client_id", "known-client"),
        ([{"client_id": a}, {"client_id": a}], "clients[1].client_id", "unique"),
        (
            [{"client_id": a, "contract_id": contract_of_b[0]["id"]}],
            "clients[0].contract_id",
            "active-contract-of-client",
        ),
    ]
    before = await counts()
    for clients, field, rule in cases:
        problem(
            await api.post(url, json={"clients": clients}, headers=h(tokens.dpo)), 422, field, rule
        )
    assert await counts() == before


async def test_notices_refuse_unmarked_clients_and_follow_ups_without_initial(
    api, tokens, clock, breach
):
    base = f"/api/v1/breaches/{breach['id']}"
    a, b = tokens.client_a_id, tokens.client_b_id
    problem(
        await api.post(f"{base}/notices", json={"phase": "initial"}, headers=h(tokens.dpo)),
        409,
        "clients",
        "clients-marked",
    )
    marked = await api.post(
        f"{base}/clients", json={"clients": [{"client_id": a}]}, headers=h(tokens.dpo)
    )
    assert marked.status_code == 201
    before = await counts()
    problem(
        await api.post(
            f"{base}/notices", json={"phase": "initial", "clients": [b]}, headers=h(tokens.dpo)
        ),
        422,
        "clients[0]",
        "marked-affected",
    )
    problem(
        await api.post(
            f"{base}/notices", json={"phase": "followup", "clients": [a]}, headers=h(tokens.dpo)
        ),
        409,
        "clients[0]",
        "initial-notice-required",
    )
    problem(
        await api.post(f"{base}/notices", json={"phase": "followup"}, headers=h(tokens.dpo)),
        409,
        f"clients (client {a})",
        "initial-notice-required",
    )
    assert await counts() == before
    sent = await api.post(f"{base}/notices", json={"phase": "initial"}, headers=h(tokens.dpo))
    assert sent.status_code == 201, sent.text
    problem(
        await api.post(
            f"{base}/notices", json={"phase": "initial", "clients": [a]}, headers=h(tokens.dpo)
        ),
        409,
        "clients[0]",
        "initial-already-sent",
    )


async def test_follow_ups_sent_at_once_get_distinct_sequence_numbers(api, tokens, clock, breach):
    """The numbering used to be read before the transaction: six at once all got number 1."""
    base = f"/api/v1/breaches/{breach['id']}"
    marked = await api.post(
        f"{base}/clients",
        json={"clients": [{"client_id": tokens.client_a_id}]},
        headers=h(tokens.dpo),
    )
    assert marked.status_code == 201, marked.text
    sent = await api.post(f"{base}/notices", json={"phase": "initial"}, headers=h(tokens.dpo))
    assert sent.status_code == 201, sent.text
    answers = await asyncio.gather(
        *[
            api.post(
                f"{base}/notices", json={"phase": "followup", "message": "f"}, headers=h(tokens.dpo)
            )
            for _ in range(6)
        ]
    )
    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
    numbers = sorted(n["sequence"] for a in answers for n in a.json()["notices"])
    assert numbers == [1, 2, 3, 4, 5, 6]


async def test_closing_needs_every_affected_client_notified(api, tokens, clock, breach):
    base = f"/api/v1/breaches/{breach['id']}"
    await api.post(
        f"{base}/clients",
        json={"clients": [{"client_id": tokens.client_a_id}]},
        headers=h(tokens.dpo),
    )
    body = {"remedial_actions": ["x"], "summary": "done"}
    problem(
        await api.post(f"{base}/close", json=body, headers=h(tokens.dpo)),
        409,
        "breach_id",
        "all-affected-notified",
    )
    assert (
        await api.post(f"{base}/notices", json={"phase": "initial"}, headers=h(tokens.dpo))
    ).status_code == 201
    assert (await api.post(f"{base}/close", json=body, headers=h(tokens.dpo))).status_code == 200
    problem(
        await api.post(
            f"{base}/corrections",
            json={"changes": {"title": "another"}, "reason": "late"},
            headers=h(tokens.dpo),
        ),
        409,
        "breach_id",
        "breach-open",
    )


async def test_unknown_breach_is_404_and_clients_never_see_unaffecting_breaches(
    api, tokens, clock, breach
):
    assert (await api.get("/api/v1/breaches/brc_nope", headers=h(tokens.dpo))).status_code == 404
    a = tokens.client_a_id
    response = await api.get(
        f"/api/v1/clients/{a}/breaches/{breach['id']}", headers=h(tokens.client_a)
    )
    problem(response, 404, "breach_id", None)
    listed = await api.get(f"/api/v1/clients/{a}/breaches", headers=h(tokens.client_a))
    assert listed.json()["items"] == []


async def test_client_without_contract_falls_back_to_the_default(api, tokens, clock, breach):
    response = await api.post(
        "/api/v1/clients",
        json={"legal_name": "No Contract SARL", "contacts": []},
        headers=h(tokens.dpo),
    )
    client_id = response.json()["id"]
    marked = await api.post(
        f"/api/v1/breaches/{breach['id']}/clients",
        json={"clients": [{"client_id": client_id}]},
        headers=h(tokens.dpo),
    )
    (obligation,) = marked.json()["obligations"]
    assert obligation["duration"] == "72 hours"
    assert obligation["duration_source"] == "product_default"
    assert obligation["contract_id"] is None and obligation["terms_version"] is None


async def test_silent_contract_uses_the_breach_default_notice_setting(api, tokens, clock, breach):
    from dataclasses import replace

    from gdpr_vault.settings import get_settings, set_settings

    sibio = await make_client(api, tokens.dpo, "sibio", "Sibio Analyses", "rgpd@sibio.example")
    before = get_settings()
    set_settings(replace(before, breach_default_notice="36 hours"))
    try:
        marked = await api.post(
            f"/api/v1/breaches/{breach['id']}/clients",
            json={"clients": [{"client_id": sibio}, {"client_id": tokens.client_a_id}]},
            headers=h(tokens.dpo),
        )
    finally:
        set_settings(before)
    by_client = {o["client_id"]: o for o in marked.json()["obligations"]}
    assert by_client[sibio]["duration"] == "36 hours"
    assert by_client[sibio]["deadline"] == "2026-03-30T09:30:00Z"
    assert by_client[tokens.client_a_id]["duration"] == "72 hours"  # opensafe's own clause
    assert by_client[tokens.client_a_id]["duration_source"] == "contract"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"aware_at": 0}, "aware_at"),  # was accepted as 1970-01-01T00:00Z
        ({"occurred_at": 1.5}, "occurred_at"),
        ({"title": 5}, "title"),
        ({"ongoing": 1}, "ongoing"),  # was accepted as true
    ],
)
async def test_wrong_json_types_are_refused_not_converted(api, tokens, clock, changes, field):
    clock.set(NOW)
    before = await counts()
    response = await api.post("/api/v1/breaches", json=facts_body(**changes), headers=h(tokens.dpo))
    problem(response, 400, field, "json-type")
    assert await counts() == before


async def test_a_correction_cannot_move_awareness_to_1970_with_a_number(api, tokens, breach):
    before = await counts()
    response = await api.post(
        f"/api/v1/breaches/{breach['id']}/corrections",
        json={"changes": {"aware_at": 0}, "reason": "typo"},
        headers=h(tokens.dpo),
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"].startswith("changes")
    assert await counts() == before
