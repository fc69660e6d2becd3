"""Clients and contracts through the API: presets' terms, amendments, clocks, validation."""

from __future__ import annotations

from tests.api.conftest import CLIENT_BODY, make_client


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def duration(terms: dict, *path: str) -> str:
    node = terms
    for key in path:
        node = node[key]
    return node["duration"]


async def test_opensafe_preset_terms(api, tokens):
    client = await make_client(api, tokens.dpo)
    contract = client["contracts"][0]
    full = await api.get(
        f"/api/v1/clients/{client['id']}/contracts/{contract['id']}", headers=h(tokens.dpo)
    )
    terms = full.json()["terms"]
    assert duration(terms, "breach_notice") == "72 hours"
    assert duration(terms, "objection_window") == "1 month"
    assert terms["objection_window"]["extend"] is True
    assert terms["audit"]["max_per_year"] == 1
    assert duration(terms, "reversibility", "integrity_check_window") == "10 business days"
    deletion = terms["reversibility"]["deletion_deadline"]
    assert (deletion["duration"], deletion["starts_at"]) == ("30 days", "export_available")


async def test_ips_and_omr_preset_terms(api, tokens):
    ips = await make_client(api, tokens.dpo, contract={**CLIENT_BODY["contract"], "preset": "ips"})
    omr = await make_client(api, tokens.dpo, contract={**CLIENT_BODY["contract"], "preset": "omr"})
    ips_terms = (
        await api.get(
            f"/api/v1/clients/{ips['id']}/contracts/{ips['contracts'][0]['id']}",
            headers=h(tokens.dpo),
        )
    ).json()["terms"]
    omr_terms = (
        await api.get(
            f"/api/v1/clients/{omr['id']}/contracts/{omr['contracts'][0]['id']}",
            headers=h(tokens.dpo),
        )
    ).json()["terms"]
    assert duration(ips_terms, "breach_notice") == "48 hours"
    export = ips_terms["reversibility"]["export_deadline"]
    assert (export["duration"], export["starts_at"]) == ("30 days", "request_receipt")
    export = omr_terms["reversibility"]["export_deadline"]
    assert (export["duration"], export["starts_at"]) == ("60 days", "request_receipt")
    choice = omr_terms["reversibility"]["delete_or_return"]
    assert choice["chosen_by"] == "client"
    assert set(choice["options"]) == {"restitution", "destruction"}


async def test_amendment_creates_a_new_version_and_keeps_the_old(api, tokens):
    client = await make_client(api, tokens.dpo)
    base = f"/api/v1/clients/{client['id']}/contracts/{client['contracts'][0]['id']}"
    amended = await api.post(
        f"{base}/amendments",
        json={"overrides": {"breach_notice": {"duration": "24 hours"}}, "reason": "Avenant n°1"},
        headers=h(tokens.dpo),
    )
    assert amended.status_code == 201, amended.text
    assert amended.json()["terms_version"] == 2
    versions = (await api.get(f"{base}/terms", headers=h(tokens.dpo))).json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["terms"]["breach_notice"]["duration"] == "72 hours"
    assert versions[1]["terms"]["breach_notice"]["duration"] == "24 hours"
    assert versions[1]["reason"] == "Avenant n°1"


async def test_contract_clock_explains_itself(api, tokens):
    client = await make_client(api, tokens.dpo)
    base = f"/api/v1/clients/{client['id']}/contracts/{client['contracts'][0]['id']}"
    response = await api.get(
        f"{base}/deadlines/breach_notice",
        params={"start": "2026-03-28T22:30:00+01:00"},
        headers=h(tokens.client_a if client["id"] == tokens.client_a_id else tokens.dpo),
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["deadline"] == "2026-03-31T21:30:00Z"
    assert any("seed 004" in line for line in body["explanation"])
    naive = await api.get(
        f"{base}/deadlines/breach_notice",
        params={"start": "2026-03-28T22:30:00"},
        headers=h(tokens.dpo),
    )
    assert naive.status_code == 422
    assert naive.json()["field"] == "start"
    unknown = await api.get(
        f"{base}/deadlines/coffee_break",
        params={"start": "2026-03-28T22:30:00Z"},
        headers=h(tokens.dpo),
    )
    assert unknown.status_code == 404


async def test_bad_client_input_is_refused_and_writes_nothing(api, tokens):
    cases = [
        ({"country": "XX"}, "country"),
        ({"registration_id": "732829321"}, "registration_id"),
        ({"dpo": {"name": "x", "email": "not-an-email"}}, "dpo.email"),
        ({"contract": {**CLIENT_BODY["contract"], "preset": "nope"}}, "contract.preset"),
        (
            {"contract": {**CLIENT_BODY["contract"], "time_zone": "Mars/Olympus"}},
            "contract.time_zone",
        ),
        (
            {"contract": {**CLIENT_BODY["contract"], "time_zone": "../../etc/passwd"}},
            "contract.time_zone",
        ),
        (
            {
                "contract": {
                    **CLIENT_BODY["contract"],
                    "overrides": {"breach_notice": {"duration": "soon"}},
                }
            },
            "contract.overrides.breach_notice.duration",
        ),
        ({"contract": {**CLIENT_BODY["contract"], "end_date": "2025-01-01"}}, "contract.end_date"),
    ]
    before = (await api.get("/api/v1/clients", headers=h(tokens.dpo))).json()["items"]
    trail_before = (await api.get("/api/v1/trail", headers=h(tokens.dpo))).json()["items"]
    for change, field in cases:
        response = await api.post(
            "/api/v1/clients", json={**CLIENT_BODY, **change}, headers=h(tokens.dpo)
        )
        assert 400 <= response.status_code < 500, (change, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["field"] == field, response.json()
        assert response.json()["rule"]
    after = (await api.get("/api/v1/clients", headers=h(tokens.dpo))).json()["items"]
    trail_after = (await api.get("/api/v1/trail", headers=h(tokens.dpo))).json()["items"]
    assert before == after
    assert len(trail_before) == len(trail_after)


async def test_pagination_with_cursor(api, tokens):
    for n in range(3):
        await make_client(api, tokens.dpo, legal_name=f"Extra {n}")
    first = (await api.get("/api/v1/clients?limit=2", headers=h(tokens.dpo))).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (
        await api.get(
            f"/api/v1/clients?limit=2&cursor={first['next_cursor']}", headers=h(tokens.dpo)
        )
    ).json()
    ids = [c["id"] for c in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 4
    bad = await api.get("/api/v1/clients?limit=0", headers=h(tokens.dpo))
    assert bad.status_code == 400 and bad.json()["field"] == "limit"


async def test_contacts_and_client_update_are_trailed(api, tokens):
    base = f"/api/v1/clients/{tokens.client_a_id}"
    added = await api.post(
        f"{base}/contacts",
        json={"name": "IT", "email": "it@tilleuls.example", "role": "technical", "language": "en"},
        headers=h(tokens.dpo),
    )
    assert added.status_code == 201
    patched = await api.patch(
        base, json={"legal_name": "Clinique des Tilleuls"}, headers=h(tokens.dpo)
    )
    assert patched.status_code == 200 and patched.json()["legal_name"] == "Clinique des Tilleuls"
    removed = await api.delete(f"{base}/contacts/{added.json()['id']}", headers=h(tokens.dpo))
    assert removed.status_code == 204
    events = (await api.get(f"{base}/trail", headers=h(tokens.client_a))).json()["items"]
    actions = [e["action"] for e in events]
    assert actions[-3:] == ["contact.added", "client.updated", "contact.removed"]
    assert "it@tilleuls.example" not in str(events)  # digests, not personal data


async def test_search_by_name_ignores_case_and_takes_wildcards_literally(api, tokens):
    """``q`` is a plain substring: "100%" and "a_b" match those characters, nothing else."""
    for name in ("Laboratoire 100% Bio", "Laboratoire 1000 Bio", "Cabinet A_B", "Cabinet AxB"):
        await make_client(api, tokens.dpo, legal_name=name)

    async def names(**params: str) -> list[str]:
        response = await api.get("/api/v1/clients", params=params, headers=h(tokens.dpo))
        assert response.status_code == 200, response.text
        return sorted(item["legal_name"] for item in response.json()["items"])

    assert await names(q="tilleuls") == ["Clinique des Tilleuls SAS"]
    assert await names(q="HORIZON") == ["Mutuelle Horizon Ouest"]
    assert await names(q="100%") == ["Laboratoire 100% Bio"]
    assert await names(q="a_b") == ["Cabinet A_B"]
    assert await names(q="%") == ["Laboratoire 100% Bio"]
    assert await names(q="nobody") == []
    assert await names(q="cabinet", country="fr") == ["Cabinet A_B", "Cabinet AxB"]
    assert await names(q="cabinet", country="BE") == []


async def test_a_client_token_searching_finds_only_its_own_client(api, tokens):
    response = await api.get("/api/v1/clients", params={"q": "Horizon"}, headers=h(tokens.client_a))
    assert response.status_code == 200
    assert response.json()["items"] == []
    response = await api.get(
        "/api/v1/clients", params={"q": "tilleuls"}, headers=h(tokens.client_a)
    )
    assert [item["legal_name"] for item in response.json()["items"]] == [
        "Clinique des Tilleuls SAS"
    ]


async def test_a_duration_beyond_a_hundred_years_is_refused_and_creates_nothing(api, tokens):
    """Accepted once, it failed every clock computed from the contract afterwards (a 500)."""
    before = (await api.get("/api/v1/clients", headers=h(tokens.dpo))).json()["items"]
    contract = {
        **CLIENT_BODY["contract"],
        "overrides": {"breach_notice": {"duration": "PT99999999999H"}},
    }
    response = await api.post(
        "/api/v1/clients",
        json={**CLIENT_BODY, "legal_name": "Forever SAS", "contract": contract},
        headers=h(tokens.dpo),
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"].endswith("breach_notice.duration")
    assert "hundred years" in problem["detail"]
    after = (await api.get("/api/v1/clients", headers=h(tokens.dpo))).json()["items"]
    assert after == before


async def test_names_longer_than_their_column_are_refused_not_a_database_error(api, tokens):
    """Contact and DPO names are stored in 200 characters; PostgreSQL refused 201-300 (500)."""
    long_name = "N" * 201
    for body in (
        {**CLIENT_BODY, "dpo": {"name": long_name, "email": "dpo@x.example"}},
        {**CLIENT_BODY, "contacts": [{"name": long_name, "email": "c@x.example"}]},
    ):
        response = await api.post("/api/v1/clients", json=body, headers=h(tokens.dpo))
        assert response.status_code == 400, response.text
        assert response.json()["field"].endswith("name")
    ok = {
        **CLIENT_BODY,
        "legal_name": "Deux Cents SAS",
        "dpo": {"name": "N" * 200, "email": "dpo@x.example"},
    }
    assert (await api.post("/api/v1/clients", json=ok, headers=h(tokens.dpo))).status_code == 201
