"""Activation updates the client's Art. 30 register entries, client by client.

A removal drops the sub-processor from the activated client's entries while the others keep it
until their own activation; an addition lists it on the register activities the change names,
for the clients they are carried out for; a relocation shows in the register "as of" on each
side of the client's activation. Named activities are checked before anything is written.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from gdpr_vault.evidence import trail
from gdpr_vault.notifications.tables import Notice, OutboxMessage
from tests.registers.conftest import entry_body
from tests.subprocessors.conftest import active_sub, bearer, create_sub, draft, receipt

REG = "/api/v1/register"
RECEIVED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EFFECTIVE = "2026-04-15"
ACTIVATION = datetime(2026, 4, 15, 8, 0, tzinfo=UTC)
BEFORE = "2026-04-01T00:00:00Z"
UNKNOWN_ACTIVITY = "pra_00000000000000000000000000"


async def make_activity(http: httpx.AsyncClient, dpo: str, **changes: object) -> str:
    response = await http.post(f"{REG}/activities", json=entry_body(**changes), headers=bearer(dpo))
    assert response.status_code == 201, response.text
    return response.json()["activity_id"]


async def publish_and_receive(
    http: httpx.AsyncClient, dpo: str, change_id: str, client_ids: list[str]
) -> None:
    published = await http.post(
        f"/api/v1/subprocessor-changes/{change_id}/publish", headers=bearer(dpo)
    )
    assert published.status_code == 200, published.text
    for client_id in client_ids:
        await receipt(http, dpo, change_id, client_id, RECEIVED)


async def activate(http: httpx.AsyncClient, dpo: str, change_id: str, client_ids: list[str]):
    response = await http.post(
        f"/api/v1/subprocessor-changes/{change_id}/activation",
        json={"client_ids": client_ids},
        headers=bearer(dpo),
    )
    assert response.status_code == 200, response.text
    return response.json()


async def listed(
    http: httpx.AsyncClient, token: str, client_id: str, as_of: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Per activity of the client's register view: the sub-processors it lists."""
    response = await http.get(
        f"/api/v1/clients/{client_id}/register",
        params={"as_of": as_of} if as_of else None,
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    return {a["activity_id"]: a["subprocessors"] for a in response.json()["activities"]}


def ids(links: list[dict[str, Any]]) -> set[str]:
    return {link["subprocessor_id"] for link in links}


async def events(action: str) -> list[dict[str, Any]]:
    return [e async for e in trail.iter_events() if e["action"] == action]


async def test_remove_drops_it_for_the_activated_client_only(api, tokens, clock):
    dpo, a, b = tokens.dpo, tokens.client_a_id, tokens.client_b_id
    sub = await active_sub(api, dpo, [a, b])
    other = await active_sub(api, dpo, [a, b], legal_name="Sauvegardes Bretonnes SAS")
    wide = [
        {"subprocessor_id": sub["id"], "activities": "hébergement"},
        {"subprocessor_id": other["id"], "activities": "sauvegardes"},
    ]
    shared = await make_activity(api, dpo, client_ids=[a, b], subprocessors=wide)
    # a link scoped to A only: removed too
    scoped = await make_activity(
        api,
        dpo,
        reference="RT-002",
        client_ids=[a],
        subprocessors=[{"subprocessor_id": sub["id"], "activities": "support", "client_id": a}],
    )
    created = await draft(
        api, dpo, kind="remove", subprocessor_id=sub["id"], effective_date=EFFECTIVE
    )
    assert created.status_code == 201, created.text
    assert created.json()["clients"]["proposed"] == sorted([a, b])
    change_id = created.json()["id"]
    await publish_and_receive(api, dpo, change_id, [a, b])

    clock.set(ACTIVATION)
    await activate(api, dpo, change_id, [a])
    mine = await listed(api, tokens.client_a, a)
    assert ids(mine[shared]) == {other["id"]}
    assert ids(mine[scoped]) == set()
    theirs = await listed(api, tokens.client_b, b)
    assert ids(theirs[shared]) == {sub["id"], other["id"]}  # B's window is its own
    kept = [s for s in theirs[shared] if s["subprocessor_id"] == sub["id"]]
    assert kept[0]["client_id"] == b and kept[0]["activities"] == "hébergement"
    before = await listed(api, tokens.client_a, a, BEFORE)
    assert ids(before[shared]) == {sub["id"], other["id"]}
    assert ids(before[scoped]) == {sub["id"]}

    removed = await events("register.subprocessor-removed")
    assert sorted(e["subject_id"] for e in removed) == sorted([shared, scoped])
    assert all(e["occurred_at"] == ACTIVATION for e in removed)
    (activated,) = await events("subprocessor.change.activated")
    details = json.loads(activated["details_json"])
    assert sorted(details["register_activity_ids"]) == sorted([shared, scoped])

    # B's activation later: nobody left, the sub-processor retires; a replay changes nothing
    await activate(api, dpo, change_id, [b])
    theirs = await listed(api, tokens.client_b, b)
    assert ids(theirs[shared]) == {other["id"]}
    again = await events("register.subprocessor-removed")
    assert len(again) == 3
    from gdpr_vault.registers import service as registers

    replay = await registers.apply_subprocessor_removal(
        sub["id"], b, [shared], actor="t", now=clock(), reason="replay"
    )
    assert replay == [{"activity_id": shared, "changed": False}]
    assert await registers.clients_using_subprocessor(sub["id"]) == []
    retired = await api.get(f"/api/v1/subprocessors/{sub['id']}", headers=bearer(dpo))
    assert retired.json()["status"] == "retired"
    assert (await trail.verify_chain()).ok


async def test_add_lists_it_on_named_activities_for_activated_clients(api, tokens, clock):
    dpo, a, b = tokens.dpo, tokens.client_a_id, tokens.client_b_id
    shared = await make_activity(api, dpo, client_ids=[a, b])
    only_b = await make_activity(api, dpo, reference="RT-002", client_ids=[b])
    sub = await create_sub(api, dpo)
    created = await draft(
        api,
        dpo,
        kind="add",
        subprocessor_id=sub["id"],
        effective_date=EFFECTIVE,
        client_ids=[a, b],
        activity_ids=[shared, only_b, shared],
        activities=["hosting of the production database"],
    )
    assert created.status_code == 201, created.text
    assert created.json()["activity_ids"] == [shared, only_b]
    change_id = created.json()["id"]
    await publish_and_receive(api, dpo, change_id, [a, b])
    assert sub["id"] not in ids((await listed(api, tokens.client_a, a))[shared])

    # each notice names the client's own register entries concerned, never another client's
    notices = {n["client_id"]: n for n in await Notice.select()}
    facts_a = json.loads(notices[a]["facts_json"])["register_activities"]
    facts_b = json.loads(notices[b]["facts_json"])["register_activities"]
    assert [(e["id"], e["reference"]) for e in facts_a] == [(shared, "RT-001")]
    assert [e["id"] for e in facts_b] == [shared, only_b]
    (mail_a,) = await OutboxMessage.select().where(
        (OutboxMessage.client_id == a) & (OutboxMessage.channel == "email")
    )
    assert "RT-001" in mail_a["content"] and "RT-002" not in mail_a["content"]
    assert only_b not in notices[a]["facts_json"]

    clock.set(ACTIVATION)
    out = await activate(api, dpo, change_id, [a])
    assert out["activity_ids"] == [shared, only_b]
    mine = await listed(api, tokens.client_a, a)
    link = [s for s in mine[shared] if s["subprocessor_id"] == sub["id"]]
    assert link == [
        {
            "subprocessor_id": sub["id"],
            "legal_name": "Nuage Souverain SAS",
            "country": "FR",
            "hosting_locations": ["FR", "DE"],
            "transfer_mechanism": None,
            "contact": "dpo@nuage-souverain.example",
            "activities": "hosting of the production database",
            "client_id": a,
        }
    ]
    assert ids((await listed(api, tokens.client_a, a, BEFORE))[shared]) == set()
    theirs = await listed(api, tokens.client_b, b)
    assert ids(theirs[shared]) == ids(theirs[only_b]) == set()  # B not activated yet

    (activated,) = await events("subprocessor.change.activated")
    details = json.loads(activated["details_json"])
    assert details["register_activity_ids"] == [shared]
    assert details["register_not_applicable"] == 1  # only_b: counted, never named to A
    assert only_b not in activated["details_json"]
    # nothing of B's register reaches A: neither its change views nor its trail
    for url in (
        f"/api/v1/clients/{a}/subprocessor-changes/{change_id}",
        f"/api/v1/clients/{a}/subprocessor-changes",
        f"/api/v1/clients/{a}/trail/",
    ):
        seen = await api.get(url, headers=bearer(tokens.client_a))
        assert seen.status_code == 200, (url, seen.text)
        assert only_b not in seen.text, url
    mine = await api.get(
        f"/api/v1/clients/{a}/subprocessor-changes/{change_id}", headers=bearer(tokens.client_a)
    )
    assert mine.json()["activity_ids"] == [shared]
    (linked,) = await events("register.subprocessor-activated")
    assert linked["subject_id"] == shared and linked["client_id"] == a

    await activate(api, dpo, change_id, [b])
    theirs = await listed(api, tokens.client_b, b)
    assert sub["id"] in ids(theirs[shared]) and sub["id"] in ids(theirs[only_b])
    assert len(await events("register.subprocessor-activated")) == 3


async def test_named_activities_are_checked_before_anything_is_written(api, tokens):
    dpo, a = tokens.dpo, tokens.client_a_id
    sub = await create_sub(api, dpo)
    known = await make_activity(api, dpo, client_ids=[a])
    retired = await make_activity(api, dpo, reference="RT-002", client_ids=[a])
    response = await api.post(
        f"{REG}/activities/{retired}/retire", json={"reason": "arrêté"}, headers=bearer(dpo)
    )
    assert response.status_code == 200, response.text
    base = {
        "kind": "add",
        "subprocessor_id": sub["id"],
        "effective_date": EFFECTIVE,
        "client_ids": [a],
    }
    drafted_before = len(await events("subprocessor.change.drafted"))

    unknown = await draft(api, dpo, **base, activity_ids=[known, UNKNOWN_ACTIVITY, "nonsense"])
    assert unknown.status_code == 422, unknown.text
    assert unknown.headers["content-type"].startswith("application/problem+json")
    problem = unknown.json()
    assert problem["field"] == "activity_ids" and problem["rule"] == "known-activity"
    assert [e["field"] for e in problem["errors"]] == ["activity_ids[1]", "activity_ids[2]"]
    stale = await draft(api, dpo, **base, activity_ids=[retired])
    assert stale.status_code == 422 and stale.json()["rule"] == "active-activity"
    in_use = await create_sub(
        api, dpo, legal_name="Ancien Hébergeur SARL", status="active", client_ids=[a]
    )
    wrong_kind = await draft(
        api,
        dpo,
        kind="remove",
        subprocessor_id=in_use["id"],
        effective_date=EFFECTIVE,
        activity_ids=[known],
    )
    assert wrong_kind.status_code == 422, wrong_kind.text
    assert wrong_kind.json()["field"] == "activity_ids" and wrong_kind.json()["rule"] == "kind"
    listing = await api.get("/api/v1/subprocessor-changes", headers=bearer(dpo))
    assert listing.json()["items"] == []
    assert len(await events("subprocessor.change.drafted")) == drafted_before

    created = await draft(api, dpo, **base, activity_ids=[known])
    assert created.status_code == 201, created.text
    change_id = created.json()["id"]
    patched = await api.patch(
        f"/api/v1/subprocessor-changes/{change_id}",
        json={"activity_ids": [UNKNOWN_ACTIVITY]},
        headers=bearer(dpo),
    )
    assert patched.status_code == 422 and patched.json()["field"] == "activity_ids"
    current = await api.get(f"/api/v1/subprocessor-changes/{change_id}", headers=bearer(dpo))
    assert current.json()["activity_ids"] == [known]
    assert await events("subprocessor.change.updated") == []

    # retired between the draft and publication: publication refuses it too
    response = await api.post(
        f"{REG}/activities/{known}/retire", json={"reason": "arrêté"}, headers=bearer(dpo)
    )
    assert response.status_code == 200, response.text
    published = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/publish", headers=bearer(dpo)
    )
    assert published.status_code == 422 and published.json()["rule"] == "active-activity"
    assert (await api.get(f"/api/v1/subprocessor-changes/{change_id}", headers=bearer(dpo))).json()[
        "status"
    ] == "draft"


async def test_relocation_shows_in_the_register_on_each_side_of_activation(api, tokens, clock):
    dpo, a, b = tokens.dpo, tokens.client_a_id, tokens.client_b_id
    sub = await active_sub(api, dpo, [a, b])
    shared = await make_activity(
        api,
        dpo,
        client_ids=[a, b],
        subprocessors=[{"subprocessor_id": sub["id"], "activities": "hébergement"}],
    )
    created = await draft(
        api,
        dpo,
        kind="relocate",
        subprocessor_id=sub["id"],
        effective_date=EFFECTIVE,
        hosting_locations=["FR", "IE"],
    )
    assert created.status_code == 201, created.text
    change_id = created.json()["id"]
    await publish_and_receive(api, dpo, change_id, [a, b])

    def hosting(view: dict[str, list[dict[str, Any]]]) -> list[str]:
        (link,) = [s for s in view[shared] if s["subprocessor_id"] == sub["id"]]
        return link["hosting_locations"]

    clock.set(ACTIVATION)
    await activate(api, dpo, change_id, [a])
    assert hosting(await listed(api, tokens.client_a, a)) == ["FR", "IE"]
    assert hosting(await listed(api, tokens.client_a, a, BEFORE)) == ["FR", "DE"]
    # B's relocation has not taken effect: its register keeps the old locations
    assert hosting(await listed(api, tokens.client_b, b)) == ["FR", "DE"]
    dpo_then = await api.get(
        f"{REG}/activities/{shared}", params={"as_of": BEFORE}, headers=bearer(dpo)
    )
    assert dpo_then.json()["subprocessors"][0]["hosting_locations"] == ["FR", "DE"]
    assert await events("register.subprocessor-activated") == []  # no entry rewritten

    await activate(api, dpo, change_id, [b])
    assert hosting(await listed(api, tokens.client_b, b)) == ["FR", "IE"]

    # the signed exports "as of" a date before the relocation say where the data was then
    for url, token in (
        (f"{REG}/export.json", dpo),
        (f"/api/v1/clients/{a}/register/export.json", tokens.client_a),
    ):
        then = await api.get(url, params={"as_of": BEFORE}, headers=bearer(token))
        assert then.status_code == 200, then.text
        (entry,) = [e for e in then.json()["activities"] if e["activity_id"] == shared]
        (link,) = [s for s in entry["subprocessors"] if s["subprocessor_id"] == sub["id"]]
        assert link["hosting_locations"] == ["FR", "DE"]
