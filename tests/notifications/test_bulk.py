"""``queue_notices``: the bulk form writes, per notice, exactly what ``queue_notice`` writes."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from gdpr_vault import db
from gdpr_vault.errors import ValidationProblem
from gdpr_vault.evidence import trail
from gdpr_vault.evidence.tables import TrailEvent
from gdpr_vault.notifications import service
from gdpr_vault.notifications.service import NoticeRequest
from gdpr_vault.notifications.tables import Notice, OutboxMessage
from tests.api.conftest import make_client


class Rollback(Exception):
    pass


def _requests(client_ids, subject_id=None, **changes):
    return [
        NoticeRequest(
            client_id=client_id,
            kind="test.notice",
            subject_type="test",
            subject_id=subject_id or f"t-{index}",
            facts={"message": f"Bonjour <b>{index}</b> ébène"},
            **changes,
        )
        for index, client_id in enumerate(client_ids)
    ]


async def _written(monkeypatch, write, now):
    """What ``write`` puts in the notice and outbox tables with a fixed id sequence; undone."""
    counter = itertools.count()
    monkeypatch.setattr(service, "new_id", lambda prefix: f"{prefix}_{next(counter):026d}")
    captured = {}
    try:
        async with db.transaction():
            await write()
            captured["notices"] = await Notice.select().order_by(Notice.id)
            captured["messages"] = await OutboxMessage.select().order_by(OutboxMessage.id)
            raise Rollback
    except Rollback:
        pass
    return captured


async def test_bulk_writes_what_one_by_one_writes(api, tokens, clock, monkeypatch):
    hook = await api.post(
        f"/api/v1/clients/{tokens.client_b_id}/webhooks",
        json={"url": "https://client.example/hooks"},
        headers=tokens.header(tokens.dpo),
    )
    assert hook.status_code == 201, hook.text
    ids = [tokens.client_a_id, tokens.client_b_id, tokens.client_a_id]
    requests = _requests(ids)
    now = clock()

    async def one_by_one():
        for r in requests:
            await service.queue_notice(
                client_id=r.client_id,
                kind=r.kind,
                subject_type=r.subject_type,
                subject_id=r.subject_id,
                facts=r.facts,
                now=now,
                actor="test",
            )

    async def bulk():
        refs = await service.queue_notices(requests, now=now, actor="test")
        assert [len(r.message_ids) for r in refs] == [1, 2, 1]

    single = await _written(monkeypatch, one_by_one, now)
    many = await _written(monkeypatch, bulk, now)
    assert len(single["messages"]) == 4
    assert single == many
    for message in many["messages"]:
        assert service.messages.sha256_hex(message["content"].encode()) == message["sha256"]


async def test_one_trail_event_per_batch_with_every_sha256(api, tokens, clock, monkeypatch):
    monkeypatch.setattr(service, "BATCH", 2)
    ids = [tokens.client_a_id, tokens.client_b_id, tokens.client_a_id]
    async with db.transaction():
        refs = await service.queue_notices(_requests(ids), now=clock(), actor="test")
    events = await TrailEvent.select().where(TrailEvent.action.like("notice.queued%"))
    assert [e["action"] for e in events] == ["notice.queued_batch"] * 2
    details = [json.loads(e["details_json"]) for e in events]
    assert [d["count"] for d in details] == [2, 1]
    assert [n["about"] for n in details[0]["notices"]] == [
        {"type": "test", "id": "t-0"},
        {"type": "test", "id": "t-1"},
    ]
    listed = {m["id"]: m["sha256"] for d in details for n in d["notices"] for m in n["messages"]}
    stored = {m["id"]: m["sha256"] for m in await OutboxMessage.select()}
    assert listed == stored
    assert [n["notice_id"] for d in details for n in d["notices"]] == [r.notice_id for r in refs]
    assert events[1]["client_id"] == tokens.client_a_id and events[0]["client_id"] is None
    assert (await trail.verify_chain()).ok
    # each event's after digest is the digest of its notices' facts, as stored
    notices = {n["id"]: json.loads(n["facts_json"]) for n in await Notice.select()}
    for event, detail in zip(events, details, strict=True):
        facts = [notices[n["notice_id"]] for n in detail["notices"]]
        assert event["after_digest"] == trail.digest_of(facts)

    # a fan-out about one subject states kind and subject once for the batch
    async with db.transaction():
        await service.queue_notices(_requests(ids[:2], "same"), now=clock(), actor="test")
    last = await TrailEvent.select().order_by(TrailEvent.seq, ascending=False).first()
    shared = json.loads(last["details_json"])
    assert shared["kind"] == "test.notice" and shared["about"] == {"type": "test", "id": "same"}
    assert shared["requires_receipt"] is True and "about" not in shared["notices"][0]


async def test_one_notice_keeps_its_own_event(api, tokens, clock):
    async with db.transaction():
        (ref,) = await service.queue_notices(
            _requests([tokens.client_a_id]), now=clock(), actor="test"
        )
    (event,) = await TrailEvent.select().where(TrailEvent.action.like("notice.queued%"))
    assert event["action"] == "notice.queued" and event["client_id"] == tokens.client_a_id
    assert json.loads(event["details_json"])["notice_id"] == ref.notice_id


async def test_a_client_without_recipient_refuses_the_whole_batch(api, tokens, clock):
    silent = (await make_client(api, tokens.dpo, legal_name="Sans Contact SA", contacts=[]))["id"]
    assert await service.clients_without_recipient([tokens.client_a_id, silent]) == [silent]
    assert await service.clients_without_recipient(["cli_unknown"], ("email",)) == ["cli_unknown"]
    with pytest.raises(ValidationProblem) as caught:
        async with db.transaction():
            await service.queue_notices(
                _requests([tokens.client_a_id, silent]), now=clock(), actor="test"
            )
    assert caught.value.rule == "no-recipient" and caught.value.field == "client_id"
    assert silent in str(caught.value)
    assert await Notice.count() == 0 and await OutboxMessage.count() == 0
    assert await service.queue_notices([], now=clock(), actor="test") == []


def test_fan_out_rows_name_every_column():
    """So their bulk insert takes every column as given (bulk._records' fast path): a column
    added to these tables must be added to the rows, or the fan-out slows down unseen."""
    from gdpr_vault.notifications.tables import Notice, OutboxMessage

    draft = service._Draft("msg_1", "email", "a@b.example", None, "fr", "s", b"x", "t", "h")
    message = service._message_row({"id": "ntc_1", "client_id": "cli_1"}, draft, None)
    assert set(message) == {c._meta.name for c in OutboxMessage._meta.columns}
    (request,) = _requests(["cli_1"], channels=("email",))
    recipients = service._Recipients(
        {"cli_1": {"id": "cli_1", "legal_name": "Client"}},
        {"cli_1": [{"name": "DPO", "email": "dpo@client.example"}]},
        {},
    )
    prepared = service._prepare_one(
        request, recipients, now=datetime(2026, 3, 2, tzinfo=UTC), actor="t", sender="v@x.example"
    )
    assert set(prepared.notice) == {c._meta.name for c in Notice._meta.columns}
