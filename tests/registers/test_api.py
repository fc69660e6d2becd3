"""The register through the API: shared entries, per-client views, history, completeness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.registers.conftest import entry_body, h

REG = "/api/v1/register"


async def create(api, tokens, **changes):
    response = await api.post(
        f"{REG}/activities", json=entry_body(**changes), headers=h(tokens.dpo)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_shared_entry_one_activity_two_clients(api, tokens, subprocessors):
    shared = await create(
        api,
        tokens,
        client_ids=[tokens.client_a_id, tokens.client_b_id],
        subprocessors=[{"subprocessor_id": subprocessors["host"], "activities": "hébergement"}],
    )
    own = await create(api, tokens, reference="RT-002", client_ids=[tokens.client_a_id])
    assert shared["client_ids"] == sorted([tokens.client_a_id, tokens.client_b_id])
    assert shared["subprocessors"][0]["legal_name"] == "Hébergeur Lyonnais SAS"

    a = (
        await api.get(f"/api/v1/clients/{tokens.client_a_id}/register", headers=h(tokens.client_a))
    ).json()
    b = (
        await api.get(f"/api/v1/clients/{tokens.client_b_id}/register", headers=h(tokens.client_b))
    ).json()
    assert [x["activity_id"] for x in a["activities"]] == sorted(
        [shared["activity_id"], own["activity_id"]]
    )
    assert [x["activity_id"] for x in b["activities"]] == [shared["activity_id"]]
    assert b["controller"]["legal_name"] == "Mutuelle Horizon Ouest"
    assert b["controller"]["dpo"]["email"] == "dpo@tilleuls.example"
    assert "client_ids" not in b["activities"][0]
    assert tokens.client_a_id not in str(b)  # B's view never names A
    assert b["processor"]["name"]

    # the auditor of A reads A's register, not B's
    audit = await api.get(
        f"/api/v1/clients/{tokens.client_a_id}/register", headers=h(tokens.auditor_a)
    )
    assert audit.status_code == 200
    foreign = await api.get(
        f"/api/v1/clients/{tokens.client_b_id}/register", headers=h(tokens.auditor_a)
    )
    assert foreign.status_code == 404
    other = await api.get(
        f"/api/v1/clients/{tokens.client_b_id}/register/activities/{own['activity_id']}",
        headers=h(tokens.dpo),
    )
    assert other.status_code == 404  # own entry of A is not in B's register even for the DPO


async def test_client_cannot_edit_and_b_cannot_see_a(api, tokens):
    entry = await create(api, tokens, client_ids=[tokens.client_a_id])
    denied = await api.post(
        f"{REG}/activities", json=entry_body(reference="X"), headers=h(tokens.client_a)
    )
    assert denied.status_code == 403
    peek = await api.get(
        f"/api/v1/clients/{tokens.client_a_id}/register/activities/{entry['activity_id']}",
        headers=h(tokens.client_b),
    )
    assert peek.status_code == 404
    via_b = await api.get(
        f"/api/v1/clients/{tokens.client_b_id}/register/activities/{entry['activity_id']}",
        headers=h(tokens.client_b),
    )
    assert via_b.status_code == 404


async def test_versions_as_of_and_diff(api, tokens, clock):
    t0 = clock()
    entry = await create(api, tokens, client_ids=[tokens.client_a_id])
    activity_id = entry["activity_id"]
    clock.set(t0 + timedelta(days=10))
    changed = entry_body(
        purposes=["gestion du personnel du client", "paie"],
        retention="5 ans après la fin du contrat",
        reason="ajout de la paie (avenant 2)",
        client_ids=[tokens.client_a_id],
    )
    response = await api.put(f"{REG}/activities/{activity_id}", json=changed, headers=h(tokens.dpo))
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    same = await api.put(f"{REG}/activities/{activity_id}", json=changed, headers=h(tokens.dpo))
    assert same.json()["version"] == 2  # identical entry: no new version

    versions = (
        await api.get(f"{REG}/activities/{activity_id}/versions", headers=h(tokens.dpo))
    ).json()
    assert [(v["version"], v["reason"]) for v in versions] == [
        (1, "initial register"),
        (2, "ajout de la paie (avenant 2)"),
    ]
    assert versions[1]["author"].startswith("dpo:")

    past = (t0 + timedelta(days=5)).isoformat()
    old = await api.get(
        f"{REG}/activities/{activity_id}", params={"as_of": past}, headers=h(tokens.dpo)
    )
    assert old.json()["version"] == 1 and old.json()["purposes"] == [
        "gestion du personnel du client"
    ]
    client_view = await api.get(
        f"/api/v1/clients/{tokens.client_a_id}/register",
        params={"as_of": past},
        headers=h(tokens.client_a),
    )
    assert (
        client_view.json()["activities"][0]["retention"]
        == "durée du contrat + période de restitution"
    )
    before = (t0 - timedelta(days=1)).isoformat()
    empty = await api.get(
        f"/api/v1/clients/{tokens.client_a_id}/register",
        params={"as_of": before},
        headers=h(tokens.client_a),
    )
    assert empty.json()["activities"] == []

    diff = await api.get(
        f"/api/v1/clients/{tokens.client_a_id}/register/activities/{activity_id}/diff",
        params={"from_version": 1, "to_version": 2},
        headers=h(tokens.auditor_a),
    )
    changes = {c["field"]: c for c in diff.json()["changes"]}
    assert set(changes) == {"purposes", "retention"}
    assert changes["purposes"]["added"] == ["paie"]

    naive = await api.get(
        f"{REG}/activities/{activity_id}",
        params={"as_of": "2026-03-01T10:00:00"},
        headers=h(tokens.dpo),
    )
    assert naive.status_code == 422 and naive.json()["rule"] == "offset-required"


async def test_link_unlink_history(api, tokens, clock):
    t0 = clock()
    entry = await create(api, tokens, client_ids=[tokens.client_a_id])
    activity_id = entry["activity_id"]
    clock.set(t0 + timedelta(hours=1))
    linked = await api.post(
        f"{REG}/activities/{activity_id}/clients",
        json={"client_id": tokens.client_b_id, "reason": "nouveau client sur la plateforme"},
        headers=h(tokens.dpo),
    )
    assert linked.status_code == 201, linked.text
    assert linked.json()["version"] == 1  # sharing is a link, not a copy nor a new version
    again = await api.post(
        f"{REG}/activities/{activity_id}/clients",
        json={"client_id": tokens.client_b_id, "reason": "twice"},
        headers=h(tokens.dpo),
    )
    assert again.status_code == 409
    clock.set(t0 + timedelta(hours=2))
    gone = await api.delete(
        f"{REG}/activities/{activity_id}/clients/{tokens.client_b_id}",
        params={"reason": "fin du contrat B"},
        headers=h(tokens.dpo),
    )
    assert gone.status_code == 200 and gone.json()["client_ids"] == [tokens.client_a_id]
    history = (
        await api.get(f"{REG}/activities/{activity_id}/history", headers=h(tokens.dpo))
    ).json()
    assert [e["kind"] for e in history] == [
        "version",
        "client-linked",
        "client-linked",
        "client-unlinked",
    ]
    assert history[-1]["reason"] == "fin du contrat B"
    mid = (t0 + timedelta(minutes=90)).isoformat()
    b_then = await api.get(
        f"/api/v1/clients/{tokens.client_b_id}/register",
        params={"as_of": mid},
        headers=h(tokens.client_b),
    )
    assert [a["activity_id"] for a in b_then.json()["activities"]] == [activity_id]
    b_now = await api.get(
        f"/api/v1/clients/{tokens.client_b_id}/register", headers=h(tokens.client_b)
    )
    assert b_now.json()["activities"] == []
    b_history = await api.get(
        f"/api/v1/clients/{tokens.client_b_id}/register/activities/{activity_id}/history",
        headers=h(tokens.client_b),
    )
    kinds = [(e["kind"], e.get("client_id")) for e in b_history.json()]
    assert ("client-linked", tokens.client_a_id) not in kinds  # B never learns about A
    assert ("client-unlinked", tokens.client_b_id) in kinds


async def test_completeness_names_fields_and_articles(api, tokens, subprocessors):
    entry = await create(
        api,
        tokens,
        client_ids=[tokens.client_a_id],
        purposes=[],
        availability_restoration="",
        subprocessors=[{"subprocessor_id": subprocessors["support"], "activities": "support N1"}],
    )
    findings = {
        (f["field"], f["article"], f["severity"]) for f in entry["completeness"]["findings"]
    }
    assert ("purposes", "Art. 30(1)(b)", "error") in findings
    assert ("availability_restoration", "Art. 30(2)(d) / Art. 32(1)(c)", "error") in findings
    assert ("transfers", "Art. 30(2)(c) / Art. 44", "error") in findings  # US helpdesk, no SCC
    report = (
        await api.get(
            f"/api/v1/clients/{tokens.client_a_id}/register/completeness",
            headers=h(tokens.client_a),
        )
    ).json()
    assert report["complete"] is False
    assert report["errors"] == 4  # three in the entry, PROCESSOR_CONTACT unset
    assert {f["field"] for f in report["identity"]} >= {"processor.contact"}
    assert report["entries"][0]["reference"] == "RT-001"

    fixed = entry_body(
        client_ids=[tokens.client_a_id],
        subprocessors=[{"subprocessor_id": subprocessors["support"], "activities": "support N1"}],
        transfers=[
            {
                "country": "US",
                "subprocessor_id": subprocessors["support"],
                "safeguard": "scc-2021-module-3",
                "recipient": "Helpdesk Inc.",
                "safeguard_reference": "DPA 2025-04 annexe SCC",
            }
        ],
        reason="SCC signées",
    )
    done = await api.put(
        f"{REG}/activities/{entry['activity_id']}", json=fixed, headers=h(tokens.dpo)
    )
    assert done.json()["completeness"]["complete"] is True
    dpo_view = (await api.get(f"{REG}/completeness", headers=h(tokens.dpo))).json()
    assert dpo_view["entries"][0]["errors"] == 0


async def test_bad_input_names_field_and_rule_and_writes_nothing(api, tokens):
    bad = entry_body(hosting_countries=["FR", "ZZ"], client_ids=[tokens.client_a_id])
    response = await api.post(f"{REG}/activities", json=bad, headers=h(tokens.dpo))
    assert response.status_code == 422
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (body["field"], body["rule"]) == ("hosting_countries[1]", "iso-3166-1-alpha-2")
    unknown = await api.post(
        f"{REG}/activities",
        json=entry_body(client_ids=["cli_00000000000000000000000000"]),
        headers=h(tokens.dpo),
    )
    assert unknown.status_code == 422 and unknown.json()["rule"] == "existing-client"
    extra = await api.post(
        f"{REG}/activities", json={**entry_body(), "colour": "red"}, headers=h(tokens.dpo)
    )
    assert extra.status_code == 400 and extra.json()["field"]
    listing = (await api.get(REG, headers=h(tokens.dpo))).json()
    assert listing["items"] == []
    await create(api, tokens)
    dup = await api.post(f"{REG}/activities", json=entry_body(), headers=h(tokens.dpo))
    assert dup.status_code == 409 and dup.json()["field"] == "reference"


async def test_subprocessor_usage_and_activation(api, tokens, subprocessors, clock):
    from gdpr_vault.registers import service

    shared = await create(
        api,
        tokens,
        client_ids=[tokens.client_a_id, tokens.client_b_id],
        subprocessors=[{"subprocessor_id": subprocessors["host"], "activities": "hébergement"}],
    )
    activity_id = shared["activity_id"]
    usage = await api.get(
        f"{REG}/subprocessors/{subprocessors['host']}/usage", headers=h(tokens.dpo)
    )
    assert usage.json()["client_ids"] == sorted([tokens.client_a_id, tokens.client_b_id])

    # the helpdesk takes effect for A first (B's objection window still open)
    clock.set(clock() + timedelta(days=31))
    result = await service.apply_subprocessor_activation(
        subprocessors["support"],
        tokens.client_a_id,
        [activity_id],
        activities="support N1",
        actor="system:subprocessor-change",
        now=clock(),
        reason="change chg_x effective for A",
    )
    assert result == [{"activity_id": activity_id, "changed": True}]
    again = await service.apply_subprocessor_activation(
        subprocessors["support"],
        tokens.client_a_id,
        [activity_id],
        actor="s",
        now=clock(),
        reason="again",
    )
    assert again == [{"activity_id": activity_id, "changed": False}]
    assert await service.clients_using_subprocessor(subprocessors["support"]) == [
        tokens.client_a_id
    ]
    a = (
        await api.get(f"/api/v1/clients/{tokens.client_a_id}/register", headers=h(tokens.client_a))
    ).json()
    b = (
        await api.get(f"/api/v1/clients/{tokens.client_b_id}/register", headers=h(tokens.client_b))
    ).json()
    assert {s["legal_name"] for s in a["activities"][0]["subprocessors"]} == {
        "Hébergeur Lyonnais SAS",
        "Helpdesk Inc.",
    }
    assert {s["legal_name"] for s in b["activities"][0]["subprocessors"]} == {
        "Hébergeur Lyonnais SAS"
    }

    # replacing the host for B only narrows the activity-wide link to A
    await service.apply_subprocessor_activation(
        subprocessors["support"],
        tokens.client_b_id,
        [activity_id],
        replaces=subprocessors["host"],
        actor="s",
        now=clock(),
        reason="host replaced by helpdesk for B",
    )
    assert await service.clients_using_subprocessor(subprocessors["host"]) == [tokens.client_a_id]
    assert await service.clients_using_subprocessor(subprocessors["support"]) == sorted(
        [tokens.client_a_id, tokens.client_b_id]
    )
    past = await service.clients_using_subprocessor(
        subprocessors["host"], datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    )
    assert past == sorted([tokens.client_a_id, tokens.client_b_id])
    used = await service.activities_using_subprocessor(subprocessors["support"])
    assert used[0]["scope"] == "clients"


async def test_retire_removes_entry_from_current_view(api, tokens, clock):
    t0 = clock()
    entry = await create(api, tokens, client_ids=[tokens.client_a_id])
    clock.set(t0 + timedelta(days=1))
    response = await api.post(
        f"{REG}/activities/{entry['activity_id']}/retire",
        json={"reason": "service arrêté"},
        headers=h(tokens.dpo),
    )
    assert response.status_code == 200 and response.json()["status"] == "retired"
    now = (
        await api.get(f"/api/v1/clients/{tokens.client_a_id}/register", headers=h(tokens.client_a))
    ).json()
    assert now["activities"] == []
    then = await api.get(
        f"/api/v1/clients/{tokens.client_a_id}/register",
        params={"as_of": t0.isoformat()},
        headers=h(tokens.client_a),
    )
    assert len(then.json()["activities"]) == 1


async def test_trail_records_changes_with_digests_only(api, tokens):
    from gdpr_vault.evidence.trail import verify_chain

    entry = await create(api, tokens, client_ids=[tokens.client_a_id])
    events = (
        await api.get(f"/api/v1/clients/{tokens.client_a_id}/trail", headers=h(tokens.dpo))
    ).json()
    mine = [e for e in events["items"] if e["subject_id"] == entry["activity_id"]]
    assert [e["action"] for e in mine] == ["register.created"]
    assert "Hébergement" not in str(mine) and mine[0]["after_digest"]
    assert (await verify_chain()).ok
