"""An app on the test database with a frozen clock, and tokens for each role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from gdpr_vault.app import create_app
from gdpr_vault.auth.service import issue_token
from gdpr_vault.settings import get_settings


@dataclass
class Tokens:
    dpo: str
    client_a: str
    client_b: str
    auditor_a: str
    client_a_id: str
    client_b_id: str

    def header(self, secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}


CLIENT_BODY = {
    "legal_name": "Clinique des Tilleuls SAS",
    "country": "FR",
    "registration_scheme": "SIREN",
    "registration_id": "732829320",
    "dpo": {"name": "Marie Curie", "email": "dpo@tilleuls.example"},
    "contacts": [{"name": "Legal", "email": "legal@tilleuls.example", "role": "legal"}],
    "contract": {
        "reference": "CTR-2026-001",
        "preset": "opensafe",
        "start_date": "2026-01-01",
        "end_date": "2027-12-31",
    },
}


@pytest.fixture
async def api(db, clock) -> AsyncIterator[httpx.AsyncClient]:
    """The app in the test's own event loop (no lifespan: no pool, no in-process worker).

    Litestar's TestClient runs the app in a second thread and loop, which would split the
    database connections between two loops on PostgreSQL.
    """
    app = create_app(get_settings(), clock, run_worker_in_process=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def make_client(api: httpx.AsyncClient, dpo: str, **changes: object) -> dict:
    body = {**CLIENT_BODY, **changes}
    response = await api.post(
        "/api/v1/clients", json=body, headers={"Authorization": f"Bearer {dpo}"}
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def tokens(api, clock) -> Tokens:
    now = clock()
    dpo = await issue_token(
        role="dpo", client_id=None, label="t", expires_at=None, actor="test", now=now
    )
    a = await make_client(api, dpo["token"])
    b = await make_client(api, dpo["token"], legal_name="Mutuelle Horizon Ouest")
    ta = await issue_token(
        role="client", client_id=a["id"], label="a", expires_at=None, actor="test", now=now
    )
    tb = await issue_token(
        role="client", client_id=b["id"], label="b", expires_at=None, actor="test", now=now
    )
    aud = await issue_token(
        role="auditor",
        client_id=a["id"],
        label="aud",
        expires_at=now + timedelta(days=30),
        actor="test",
        now=now,
    )
    return Tokens(dpo["token"], ta["token"], tb["token"], aud["token"], a["id"], b["id"])
