"""A replacement derived from who uses the old sub-processor: the old one retires with its
last client, and the "as of" list shows each on its own side of the activation."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.subprocessors.conftest import active_sub, bearer, create_sub, draft, receipt


async def test_replace_derives_clients_and_retires_the_old_one(api, tokens, clock):
    dpo, a = tokens.dpo, tokens.client_a_id
    old = await active_sub(api, dpo, [a], legal_name="Ancien Hébergeur SARL")
    new = await create_sub(api, dpo)
    created = await draft(
        api,
        dpo,
        kind="replace",
        subprocessor_id=new["id"],
        replaces_id=old["id"],
        effective_date="2026-04-15",
    )
    assert created.status_code == 201, created.text
    change_id = created.json()["id"]
    assert created.json()["clients"]["proposed"] == [a]
    published = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/publish", headers=bearer(dpo)
    )
    assert published.status_code == 200, published.text
    assert published.json()["clients"]["total"] == 1  # only the client using the old one
    await receipt(api, dpo, change_id, a, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    clock.set(datetime(2026, 4, 15, 8, 0, tzinfo=UTC))
    activated = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/activation", json={}, headers=bearer(dpo)
    )
    assert activated.status_code == 200, activated.text
    assert activated.json()["status"] == "completed"
    old_now = await api.get(f"/api/v1/subprocessors/{old['id']}", headers=bearer(dpo))
    assert old_now.json()["status"] == "retired" and old_now.json()["clients"] == 0
    url = f"/api/v1/clients/{a}/subprocessors"
    then = await api.get(url, params={"as_of": "2026-03-03T00:00:00Z"}, headers=bearer(dpo))
    assert [i["subprocessor_id"] for i in then.json()["items"]] == [old["id"]]
    now = await api.get(url, headers=bearer(tokens.client_a))
    assert [i["subprocessor_id"] for i in now.json()["items"]] == [new["id"]]
    listing = await api.get(
        "/api/v1/subprocessors", params={"as_of": "2026-03-03T00:00:00Z"}, headers=bearer(dpo)
    )
    statuses = {i["id"]: i["status"] for i in listing.json()["items"]}
    assert statuses == {old["id"]: "active", new["id"]: "proposed"}
