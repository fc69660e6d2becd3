"""Errors leave as problem+json naming field and rule; nothing half-written, never a 500."""

from __future__ import annotations

from tests.api.conftest import CLIENT_BODY


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_unknown_route_is_a_problem(api, tokens):
    response = await api.get("/api/v1/nothing-here", headers=h(tokens.dpo))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/not-found")


async def test_malformed_json_and_unknown_fields(api, tokens):
    response = await api.post(
        "/api/v1/clients",
        content=b"{not json",
        headers={**h(tokens.dpo), "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    extra = await api.post(
        "/api/v1/clients", json={**CLIENT_BODY, "colour": "blue"}, headers=h(tokens.dpo)
    )
    assert extra.status_code == 400
    assert "colour" in extra.text


async def test_wrong_type_names_the_field(api, tokens):
    response = await api.post(
        "/api/v1/clients",
        json={**CLIENT_BODY, "contract": {**CLIENT_BODY["contract"], "start_date": "tomorrow"}},
        headers=h(tokens.dpo),
    )
    assert response.status_code == 400
    assert response.json()["field"] == "contract.start_date"


async def test_oversized_body_is_413(api, tokens):
    huge = {**CLIENT_BODY, "legal_name": "x" * 2_000_000}
    response = await api.post("/api/v1/clients", json=huge, headers=h(tokens.dpo))
    assert response.status_code == 413
    assert response.json()["rule"] == "max-body-size"


async def test_token_rules(api, tokens):
    cases = [
        ({"role": "client"}, "client_id"),
        ({"role": "auditor", "client_id": tokens.client_a_id}, "expires_at"),
        ({"role": "dpo", "client_id": tokens.client_a_id}, "client_id"),
        (
            {
                "role": "auditor",
                "client_id": tokens.client_a_id,
                "expires_at": "2030-01-01T00:00:00",
            },
            "expires_at",
        ),
        (
            {
                "role": "auditor",
                "client_id": tokens.client_a_id,
                "expires_at": "2020-01-01T00:00:00Z",
            },
            "expires_at",
        ),
        ({"role": "client", "client_id": "cli_00000000000000000000000000"}, "client_id"),
        (  # an auditor token lasts at most a year: one for 9999 was accepted
            {
                "role": "auditor",
                "client_id": tokens.client_a_id,
                "expires_at": "2999-12-31T23:59:59Z",
            },
            "expires_at",
        ),
        (  # no UTC value at all
            {
                "role": "auditor",
                "client_id": tokens.client_a_id,
                "expires_at": "9999-12-31T23:59:59-01:00",
            },
            "expires_at",
        ),
    ]
    for body, field in cases:
        response = await api.post("/api/v1/tokens", json=body, headers=h(tokens.dpo))
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, (body, response.json())


async def test_issued_token_is_shown_once_and_works(api, tokens):
    issued = await api.post(
        "/api/v1/tokens",
        json={
            "role": "auditor",
            "client_id": tokens.client_a_id,
            "expires_at": "2026-04-30T18:00:00+02:00",
            "label": "Cabinet Audit & Co",
        },
        headers=h(tokens.dpo),
    )
    assert issued.status_code == 201
    secret = issued.json()["token"]
    me = await api.get("/api/v1/me", headers=h(secret))
    assert me.json() == {
        "token_id": issued.json()["id"],
        "role": "auditor",
        "client_id": tokens.client_a_id,
        "label": "Cabinet Audit & Co",
        "read_only": True,
    }
    listed = await api.get("/api/v1/tokens", headers=h(tokens.dpo))
    assert secret not in listed.text


async def test_public_routes_and_request_id(api):
    health = await api.get("/api/v1/health", headers={"X-Request-ID": "abc123"})
    assert health.status_code == 200 and health.headers["x-request-id"] == "abc123"
    keys = (await api.get("/api/v1/keys")).json()["keys"]
    assert keys[0]["algorithm"] == "ed25519" and "BEGIN PUBLIC KEY" in keys[0]["public_key_pem"]
    schema = await api.get("/schema/openapi.json")
    assert schema.status_code == 200 and "/api/v1/clients" in schema.json()["paths"]
