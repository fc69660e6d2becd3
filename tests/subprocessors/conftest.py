"""Sub-processor tests share the API fixtures and a few helpers to drive a change."""

from __future__ import annotations

from datetime import datetime

import httpx

from tests.api.conftest import api, make_client, tokens  # noqa: F401

SUB_BODY = {
    "legal_name": "Nuage Souverain SAS",
    "registration_id": "552100554",
    "address": "12 rue de la Paix, 75002 Paris",
    "country": "FR",
    "contact": "dpo@nuage-souverain.example",
    "activities": ["hosting of the production database", "encrypted backups"],
    "data_categories": ["identity", "professional contact details"],
    "hosting_locations": ["FR", "DE"],
    "dpa_reference": "DPA-NS-2026-01",
    "dpa_date": "2026-02-15",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_sub(http: httpx.AsyncClient, dpo: str, **changes: object) -> dict:
    response = await http.post(
        "/api/v1/subprocessors", json={**SUB_BODY, **changes}, headers=bearer(dpo)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def active_sub(
    http: httpx.AsyncClient, dpo: str, client_ids: list[str], **changes: object
) -> dict:
    """A sub-processor already active for these clients since 2025-01-01 (before the tests'
    changes), as the starting point of a remove, replace or relocate."""
    return await create_sub(
        http,
        dpo,
        status="active",
        client_ids=client_ids,
        active_since="2025-01-01T00:00:00Z",
        **changes,
    )


async def draft(http: httpx.AsyncClient, dpo: str, **body: object) -> httpx.Response:
    return await http.post("/api/v1/subprocessor-changes", json=body, headers=bearer(dpo))


async def receipt(http: httpx.AsyncClient, dpo: str, change_id: str, client_id: str, at: datetime):
    response = await http.post(
        f"/api/v1/subprocessor-changes/{change_id}/receipts",
        json={"client_id": client_id, "received_at": at.isoformat(), "evidence": "AR 1A 234"},
        headers=bearer(dpo),
    )
    assert response.status_code == 200, response.text
    return response.json()
