"""Large fan-outs: publication writes the state rows and enqueues notice jobs; each job queues
its batch with ``queue_notices`` and links the notices; re-runs and abandonment are safe."""

from __future__ import annotations

import asyncio
import contextvars
import json

import pytest

from gdpr_vault.evidence import trail
from gdpr_vault.evidence.tables import TrailEvent
from gdpr_vault.jobs.queue import run_one
from gdpr_vault.jobs.tables import Job
from gdpr_vault.notifications.tables import Notice
from gdpr_vault.subprocessors import jobs, service  # noqa: F401  (registers the handlers)
from gdpr_vault.subprocessors.tables import SubprocessorChangeClient
from tests.subprocessors.conftest import bearer, create_sub, draft, make_client


@pytest.fixture
def through_jobs(monkeypatch):
    monkeypatch.setattr(service, "INLINE_FAN_OUT", 1)
    monkeypatch.setattr(service, "NOTIFY_BATCH", 2)


async def _published(api, tokens, clients):
    sub = await create_sub(api, tokens.dpo)
    created = await draft(
        api,
        tokens.dpo,
        kind="add",
        subprocessor_id=sub["id"],
        effective_date="2026-04-20",
        client_ids=clients,
    )
    assert created.status_code == 201, created.text
    change_id = created.json()["id"]
    published = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/publish", headers=bearer(tokens.dpo)
    )
    return change_id, published


async def test_jobs_queue_the_notices_once(api, tokens, clock, through_jobs):
    c = (await make_client(api, tokens.dpo, legal_name="Transports Martin SA"))["id"]
    clients = [tokens.client_a_id, tokens.client_b_id, c]
    change_id, published = await _published(api, tokens, clients)
    assert published.status_code == 200, published.text
    counts = published.json()["clients"]
    assert counts["by_state"]["pending"] == 3 and counts["notices_pending"] == 3
    assert await Notice.count() == 0
    payloads = [json.loads(j["payload_json"]) for j in await Job.select().order_by(Job.id)]
    # two jobs made in the same millisecond: their ids do not say which came first
    batches = sorted(tuple(p["client_ids"]) for p in payloads)
    assert batches == sorted([tuple(clients[:2]), tuple(clients[2:])])

    # no receipt before the notice exists; the client sees its change as pending
    early = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/receipts",
        json={"client_id": c, "received_at": clock().isoformat(), "evidence": "AR"},
        headers=bearer(tokens.dpo),
    )
    assert early.status_code == 409 and early.json()["rule"] == "notice-pending"

    assert await run_one("test", clock(), 300)  # one batch, whichever the queue took first
    rows = {r["client_id"]: r for r in await SubprocessorChangeClient.select()}
    done, waiting = (clients[:2], clients[2:])
    if rows[c]["state"] == "notified":
        done, waiting = waiting, done
    assert all(rows[x]["state"] == "notified" for x in done)
    assert all(rows[x]["state"] == "pending" and rows[x]["notice_id"] is None for x in waiting)

    # a re-run after a crash (same batch) queues nothing twice
    assert await service.notify_batch(change_id, done, "test", clock()) == 0
    assert await Notice.count() == len(done)

    while await run_one("test", clock(), 300):
        pass
    view = await api.get(f"/api/v1/subprocessor-changes/{change_id}", headers=bearer(tokens.dpo))
    assert view.json()["clients"]["by_state"]["notified"] == 3
    assert "pending" not in view.json()["clients"]["by_state"]
    assert view.json()["clients"]["notices_pending"] == 0
    notices = {n["client_id"]: n["id"] for n in await Notice.select()}
    rows = await SubprocessorChangeClient.select()
    assert {r["client_id"]: r["notice_id"] for r in rows} == notices
    assert sorted(notices) == sorted(clients)

    events = [e async for e in trail.iter_events()]
    actions = [e["action"] for e in events]
    assert actions.count("subprocessor.change.notified") == 2
    assert actions.count("notice.queued_batch") == 1 and actions.count("notice.queued") == 1
    assert (await trail.verify_chain()).ok

    # the receipt now starts the window as before
    received = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/receipts",
        json={"client_id": c, "received_at": clock().isoformat(), "evidence": "AR"},
        headers=bearer(tokens.dpo),
    )
    assert received.status_code == 200, received.text
    assert received.json()["mine"]["state"] == "received"


async def test_abandoned_before_the_jobs_run_sends_nothing(api, tokens, clock, through_jobs):
    change_id, published = await _published(api, tokens, [tokens.client_a_id, tokens.client_b_id])
    assert published.status_code == 200, published.text
    abandoned = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/abandon",
        json={"reason": "the provider withdrew"},
        headers=bearer(tokens.dpo),
    )
    assert abandoned.status_code == 200, abandoned.text
    while await run_one("test", clock(), 300):
        pass
    assert await Notice.count() == 0
    assert {j["status"] for j in await Job.select(Job.status)} == {"done"}


async def test_a_client_nobody_would_hear_is_refused_up_front(api, tokens, clock):
    silent = (await make_client(api, tokens.dpo, legal_name="Sans Contact SA", contacts=[]))["id"]
    _, published = await _published(api, tokens, [tokens.client_a_id, silent])
    assert published.status_code == 422, published.text
    problem = published.json()
    assert problem["rule"] == "no-recipient"
    assert [e["client_id"] for e in problem["errors"]] == [silent]
    assert await SubprocessorChangeClient.count() == 0 and await Notice.count() == 0
    events = await TrailEvent.select().where(TrailEvent.action == "subprocessor.change.published")
    assert events == []


async def elsewhere(work):
    """Run ``work`` as another worker or request would: in a task of its own, outside the
    calling task's read transaction and locks."""
    return await asyncio.create_task(work, context=contextvars.Context())


async def test_a_batch_notified_meanwhile_by_another_worker_is_not_written_twice(
    api, tokens, clock, through_jobs, monkeypatch
):
    """Jobs render before their write transaction: a worker that wrote the same clients in
    between wins, and the late one writes nothing (no second notice, no second event)."""
    clients = [tokens.client_a_id, tokens.client_b_id]
    change_id, published = await _published(api, tokens, clients)
    assert published.status_code == 200, published.text
    render = service._prepare_notices
    raced = []

    async def render_then_lose_the_race(change, rows, actor, now):
        prepared = await render(change, rows, actor, now)
        if actor == "late":  # the other worker: same batch, rendered and written first
            raced.append(await elsewhere(service.notify_batch(change_id, clients, "other", now)))
        return prepared

    monkeypatch.setattr(service, "_prepare_notices", render_then_lose_the_race)
    assert await service.notify_batch(change_id, clients, "late", clock()) == 0
    assert raced == [2]
    assert await Notice.count() == 2
    rows = await SubprocessorChangeClient.select()
    assert {r["notice_id"] for r in rows} == {n["id"] for n in await Notice.select()}
    events = await TrailEvent.select().where(TrailEvent.action == "subprocessor.change.notified")
    assert [e["actor"] for e in events] == ["other"]


async def test_abandoned_between_rendering_and_writing_sends_nothing(
    api, tokens, clock, through_jobs, monkeypatch
):
    clients = [tokens.client_a_id, tokens.client_b_id]
    change_id, published = await _published(api, tokens, clients)
    assert published.status_code == 200, published.text
    render = service._prepare_notices

    async def render_then_abandon(change, rows, actor, now):
        prepared = await render(change, rows, actor, now)
        await elsewhere(service.abandon_change(change_id, "the provider withdrew", "dpo", now))
        return prepared

    monkeypatch.setattr(service, "_prepare_notices", render_then_abandon)
    assert await service.notify_batch(change_id, clients, "test", clock()) == 0
    assert await Notice.count() == 0


async def test_workers_running_at_once_notify_every_client_once(api, tokens, clock, monkeypatch):
    """Three job loops at once over a fan-out in batches of two: each client once, the trail
    intact (on PostgreSQL the loops overlap for real; SQLite queues their writes)."""
    monkeypatch.setattr(service, "INLINE_FAN_OUT", 1)
    monkeypatch.setattr(service, "NOTIFY_BATCH", 2)
    clients = [tokens.client_a_id, tokens.client_b_id]
    for number in range(5):
        clients.append((await make_client(api, tokens.dpo, legal_name=f"Client {number}"))["id"])
    _, published = await _published(api, tokens, clients)
    assert published.status_code == 200, published.text

    async def worker(name: str) -> None:
        while await run_one(name, clock(), 300):
            pass

    await asyncio.gather(*(worker(f"w{i}") for i in range(3)))
    notices = await Notice.select(Notice.client_id)
    assert sorted(n["client_id"] for n in notices) == sorted(clients)
    rows = await SubprocessorChangeClient.select()
    assert {r["state"] for r in rows} == {"notified"}
    assert {j["status"] for j in await Job.select(Job.status)} == {"done"}
    assert (await trail.verify_chain()).ok


async def test_two_workers_on_one_batch_one_writes_the_other_finds_nothing_left(
    api, tokens, clock, through_jobs, monkeypatch
):
    """A lease expired and two workers run the same batch at once: the rows are locked for
    the write, so the second waits, finds them linked and returns quietly (no conflict, no
    failed attempt)."""
    clients = [tokens.client_a_id, tokens.client_b_id]
    change_id, published = await _published(api, tokens, clients)
    assert published.status_code == 200, published.text
    render, rendered, both = service._prepare_notices, [], asyncio.Event()

    async def render_then_wait_for_the_other(change, rows, actor, now):
        prepared = await render(change, rows, actor, now)
        rendered.append(actor)
        if len(rendered) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 10)  # both reach their write at the same moment
        return prepared

    monkeypatch.setattr(service, "_prepare_notices", render_then_wait_for_the_other)
    results = await asyncio.gather(
        service.notify_batch(change_id, clients, "w1", clock()),
        service.notify_batch(change_id, clients, "w2", clock()),
    )
    assert sorted(results) == [0, 2]
    assert await Notice.count() == 2
    assert (await trail.verify_chain()).ok


async def test_two_abandons_at_once_record_one(api, tokens, clock):
    """The checks used to run before the transaction: six at once gave six 200s, six events."""
    change_id, published = await _published(api, tokens, [tokens.client_a_id])
    assert published.status_code == 200, published.text
    answers = await asyncio.gather(
        *[
            api.post(
                f"/api/v1/subprocessor-changes/{change_id}/abandon",
                json={"reason": "the provider withdrew"},
                headers=bearer(tokens.dpo),
            )
            for _ in range(6)
        ]
    )
    assert sorted(a.status_code for a in answers) == [200] + [409] * 5
    assert {a.json()["rule"] for a in answers if a.status_code == 409} == {"closed"}
    events = await TrailEvent.count().where(TrailEvent.action == "subprocessor.change.abandoned")
    assert events == 1
