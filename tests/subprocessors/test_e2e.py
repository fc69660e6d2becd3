"""A change published to three opensafe clients, from notice to activation, end to end.

Client A receives the notice first and objects in time; B is silent (accepted when its window
closes, by the window job); C accepts explicitly. Activation is refused for A and allowed for
B and C once their windows closed; the "as of" lists and the trail tell the same story.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gdpr_vault.auth.service import issue_token
from gdpr_vault.evidence import trail
from gdpr_vault.jobs.queue import run_one
from gdpr_vault.subprocessors import jobs  # noqa: F401  (registers the window job)
from tests.subprocessors.conftest import bearer, create_sub, draft, make_client, receipt

T = UTC


async def run_jobs(now: datetime) -> int:
    ran = 0
    while await run_one("test", now, 300):
        ran += 1
    return ran


async def test_change_to_three_clients(api, tokens, clock):
    dpo = tokens.dpo
    a, b = tokens.client_a_id, tokens.client_b_id
    c = (await make_client(api, dpo, legal_name="Transports Martin SA"))["id"]
    token_c = (
        await issue_token(
            role="client", client_id=c, label="c", expires_at=None, actor="t", now=clock()
        )
    )["token"]
    sub = await create_sub(api, dpo)
    assert sub["status"] == "proposed"

    # 1 month from a receipt today (2 March) ends 2 April 24:00: 3 April is the earliest date
    early = await draft(
        api,
        dpo,
        kind="add",
        subprocessor_id=sub["id"],
        effective_date="2026-04-02",
        client_ids=[a, b, c],
    )
    assert early.status_code == 422, early.text
    problem = early.json()
    assert problem["rule"] == "effective-date-before-window-end"
    assert {e["client_id"] for e in problem["errors"]} == {a, b, c}

    created = await draft(
        api,
        dpo,
        kind="add",
        subprocessor_id=sub["id"],
        effective_date="2026-04-20",
        client_ids=[a, b, c],
        summary="Database hosting moves to a sovereign cloud.",
    )
    assert created.status_code == 201, created.text
    change_id = created.json()["id"]
    published = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/publish", headers=bearer(dpo)
    )
    assert published.status_code == 200, published.text
    assert published.json()["clients"]["by_state"]["notified"] == 3

    # every affected client, and only those, got the written notice
    for client_id, token in ((a, tokens.client_a), (b, tokens.client_b), (c, token_c)):
        notices = (
            await api.get(f"/api/v1/clients/{client_id}/notices", headers=bearer(token))
        ).json()
        kinds = [n["kind"] for n in notices["items"]]
        assert kinds == ["subprocessor.change"], kinds
        mine = (
            await api.get(
                f"/api/v1/clients/{client_id}/subprocessor-changes/{change_id}",
                headers=bearer(token),
            )
        ).json()["mine"]
        assert mine["state"] == "notified" and mine["window"]["due"] is None

    # receipts at different times start each client's own window (Europe/Paris, art. 641/642)
    clock.set(datetime(2026, 3, 2, 16, 0, tzinfo=T))
    ra = await receipt(api, dpo, change_id, a, datetime(2026, 3, 2, 10, 0, tzinfo=T))
    assert ra["mine"]["window"]["display"] == "2026-04-02 24:00 (Europe/Paris)"
    clock.set(datetime(2026, 3, 5, 16, 0, tzinfo=T))
    rb = await receipt(api, dpo, change_id, b, datetime(2026, 3, 5, 9, 0, tzinfo=T))
    # 5 April is Easter Sunday, 6 April Easter Monday: extended to Tuesday 7 April
    assert rb["mine"]["window"]["display"] == "2026-04-07 24:00 (Europe/Paris)"
    assert rb["mine"]["window"]["terms_version"] == 1
    assert any("Easter Monday" in line for line in rb["mine"]["window"]["explanation"])
    clock.set(datetime(2026, 3, 10, 16, 0, tzinfo=T))
    rc = await receipt(api, dpo, change_id, c, datetime(2026, 3, 10, 9, 0, tzinfo=T))
    assert rc["mine"]["window"]["display"] == "2026-04-10 24:00 (Europe/Paris)"

    # A objects in time, with reasons; C accepts explicitly; B says nothing
    clock.set(datetime(2026, 3, 15, 10, 0, tzinfo=T))
    objection = await api.post(
        f"/api/v1/clients/{a}/subprocessor-changes/{change_id}/objection",
        json={"reasons": "Our hospital data must stay with an HDS-certified host."},
        headers=bearer(tokens.client_a),
    )
    assert objection.status_code == 201, objection.text
    assert objection.json()["late"] is False
    accepted = await api.post(
        f"/api/v1/clients/{c}/subprocessor-changes/{change_id}/acceptance", headers=bearer(token_c)
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["mine"]["accepted_how"] == "explicit"

    # 8 April: A's and B's windows are closed, C's is not; B's window job accepts by silence
    clock.set(datetime(2026, 4, 8, 8, 0, tzinfo=T))
    assert await run_jobs(clock()) >= 2
    assert await run_jobs(clock()) == 0
    states = await api.get(f"/api/v1/subprocessor-changes/{change_id}/clients", headers=bearer(dpo))
    by_client = {i["client_id"]: i for i in states.json()["items"]}
    assert by_client[a]["state"] == "objected"
    assert by_client[b]["state"] == "accepted" and by_client[b]["accepted_how"] == "silence"
    assert by_client[c]["state"] == "accepted" and by_client[c]["accepted_how"] == "explicit"
    assert by_client[a]["objections"][0]["status"] == "open"

    # a late objection from B is recorded, flagged, and does not block
    late = await api.post(
        f"/api/v1/clients/{b}/subprocessor-changes/{change_id}/objection",
        json={"reasons": "We noticed the notice too late but disagree."},
        headers=bearer(tokens.client_b),
    )
    assert late.status_code == 201 and late.json()["late"] is True

    refused = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/activation",
        json={"client_ids": [a, b, c]},
        headers=bearer(dpo),
    )
    assert refused.status_code == 409, refused.text
    rules_by_client = {}
    for error in refused.json()["errors"]:
        rules_by_client.setdefault(error["client_id"], set()).add(error["rule"])
    assert rules_by_client[a] == {"objection-open", "before-effective-date"}
    assert rules_by_client[b] == {"before-effective-date"}
    assert rules_by_client[c] == {"window-open", "before-effective-date"}

    # 21 April: past the effective date and every window
    clock.set(datetime(2026, 4, 21, 7, 0, tzinfo=T))
    await run_jobs(clock())
    only_a = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/activation",
        json={"client_ids": [a]},
        headers=bearer(dpo),
    )
    assert only_a.status_code == 409
    assert only_a.json()["errors"] == [
        {
            "client_id": a,
            "rule": "objection-open",
            "detail": "an objection is open and must be resolved first",
        }
    ]
    activated = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/activation", json={}, headers=bearer(dpo)
    )
    assert activated.status_code == 200, activated.text
    body = activated.json()
    assert sorted(body["activated"]) == sorted([b, c])
    assert [(e["client_id"], e["rule"]) for e in body["not_activated"]] == [(a, "objection-open")]
    assert body["status"] == "published"
    assert (await api.get(f"/api/v1/subprocessors/{sub['id']}", headers=bearer(dpo))).json()[
        "status"
    ] == "active"

    # A terminates: recorded, the change will never apply to A, and the change is complete
    objection_id = objection.json()["id"]
    resolved = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/objections/{objection_id}/resolution",
        json={"resolution": "client_terminates", "note": "Termination letter of 20 April"},
        headers=bearer(dpo),
    )
    assert resolved.status_code == 200, resolved.text
    change = (
        await api.get(f"/api/v1/subprocessor-changes/{change_id}", headers=bearer(dpo))
    ).json()
    assert change["status"] == "completed"
    assert change["clients"]["by_state"] == {
        "notified": 0,
        "received": 0,
        "objected": 0,
        "accepted": 0,
        "resolved": 1,
        "active": 2,
    }
    again = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/activation",
        json={"client_ids": [a]},
        headers=bearer(dpo),
    )
    assert again.status_code == 409 and again.json()["rule"] == "published-only"

    # "as of": who processed B's data, before and after the activation instant
    activated_at = clock()
    before = await api.get(
        f"/api/v1/clients/{b}/subprocessors",
        params={"as_of": (activated_at - timedelta(seconds=1)).isoformat()},
        headers=bearer(tokens.client_b),
    )
    assert before.json()["items"] == []
    after = await api.get(
        f"/api/v1/clients/{b}/subprocessors",
        params={"as_of": "2026-05-01T00:00:00+02:00"},
        headers=bearer(tokens.client_b),
    )
    items = after.json()["items"]
    assert [i["legal_name"] for i in items] == ["Nuage Souverain SAS"]
    assert items[0]["since"] == "2026-04-21T07:00:00Z" and items[0]["change_id"] == change_id
    for_a = await api.get(f"/api/v1/clients/{a}/subprocessors", headers=bearer(tokens.client_a))
    assert for_a.json()["items"] == []
    dpo_then = await api.get(
        "/api/v1/subprocessors", params={"as_of": "2026-04-01T00:00:00Z"}, headers=bearer(dpo)
    )
    assert [(i["id"], i["status"], i["clients"]) for i in dpo_then.json()["items"]] == [
        (sub["id"], "proposed", 0)
    ]
    dpo_now = await api.get(
        "/api/v1/subprocessors", params={"as_of": "2026-04-22T00:00:00Z"}, headers=bearer(dpo)
    )
    assert [(i["status"], i["clients"]) for i in dpo_now.json()["items"]] == [("active", 2)]

    # the trail agrees: one activation per client at the instant the "as of" list starts
    events = [e async for e in trail.iter_events()]
    activations = [e for e in events if e["action"] == "subprocessor.change.activated"]
    assert {e["client_id"] for e in activations} == {b, c}
    assert all(e["occurred_at"] == activated_at for e in activations)
    actions = [e["action"] for e in events]
    for action in (
        "subprocessor.created",
        "subprocessor.change.drafted",
        "subprocessor.change.published",
        "subprocessor.change.received",
        "subprocessor.objection.recorded",
        "subprocessor.change.accepted",
        "subprocessor.objection.resolved",
        "client.termination_requested",
        "subprocessor.change.completed",
    ):
        assert action in actions, action
    silence = [
        e
        for e in events
        if e["action"] == "subprocessor.change.accepted" and '"silence"' in e["details_json"]
    ]
    assert [e["client_id"] for e in silence] == [b]
    assert (await trail.verify_chain()).ok
    feed = await api.get(
        f"/api/v1/clients/{b}/subprocessor-changes/feed.atom", headers=bearer(tokens.client_b)
    )
    assert feed.status_code == 200 and feed.headers["content-type"].startswith(
        "application/atom+xml"
    )
    assert change_id in feed.text and "state: active" in feed.text
