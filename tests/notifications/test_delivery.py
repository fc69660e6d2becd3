"""Delivery over real servers: SMTP (aiosmtpd) and signed webhooks (http.server)."""

from __future__ import annotations

import asyncio
import email
import json
from datetime import timedelta
from email import policy

import pytest

from gdpr_vault import db
from gdpr_vault.evidence.tables import TrailEvent
from gdpr_vault.notifications import delivery, service
from gdpr_vault.notifications.tables import OutboxMessage
from tests.notifications.conftest import verify_standard_webhook


async def queue(client_id, now, **changes):
    kwargs = {
        "client_id": client_id,
        "kind": "test.notice",
        "subject_type": "test",
        "subject_id": "t-1",
        "facts": {"message": "Bonjour <b>monde</b>"},
        "now": now,
        "actor": "test",
        **changes,
    }
    async with db.transaction():
        return await service.queue_notice(**kwargs)


async def add_endpoint(api, tokens, receiver, token=None):
    response = await api.post(
        f"/api/v1/clients/{tokens.client_a_id}/webhooks",
        json={"url": receiver.url, "description": "test receiver"},
        headers=tokens.header(token or tokens.dpo),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def sent_events(message_id=None):
    rows = await TrailEvent.select().where(TrailEvent.action == "notice.messages.sent")
    found = [m for r in rows for m in json.loads(r["details_json"])["messages"]]
    return [d for d in found if message_id is None or d["message_id"] == message_id]


async def test_email_has_plain_html_attachment_and_stable_message_id(
    tokens, clock, fast_settings, smtp_server
):
    ref = await queue(
        tokens.client_a_id,
        clock(),
        channels=("email",),
        attachments=[service.Attachment("rapport.pdf", "application/pdf", b"%PDF-1.4 test")],
    )
    assert ref.recipients == 1 and len(ref.message_ids) == 1
    # The first worker sends, then dies before recording: the message stays claimed.
    claimed = await delivery.claim_batch("w1", clock(), limit=10, lease_seconds=30)
    outcomes = await delivery.send_claimed(claimed, fast_settings, clock())
    assert outcomes[0].ok, outcomes[0].error
    assert await delivery.deliver_due("w2", clock(), fast_settings) == 0  # lease still held
    clock.set(clock() + timedelta(seconds=31))
    assert await delivery.deliver_due("w2", clock(), fast_settings) == 1
    assert len(smtp_server.messages) == 2
    (mail_from, rcpts, first), (_, _, second) = smtp_server.messages
    assert mail_from == "notices@processor.example"
    assert rcpts == ["legal@tilleuls.example"]
    assert first == second  # byte-identical resend
    parsed = email.message_from_bytes(first, policy=policy.default)
    assert parsed["Message-ID"] == f"<{ref.message_ids[0]}@processor.example>"
    body = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert "Bonjour <b>monde</b>" in body.get_content()
    assert "Bonjour &lt;b&gt;monde&lt;/b&gt;" in html.get_content()  # autoescaped
    assert "/api/v1/receipts/" in body.get_content()
    attachments = list(parsed.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["rapport.pdf"]
    assert attachments[0].get_content() == b"%PDF-1.4 test"
    notice = await service.get_notice(ref.notice_id)
    (message,) = notice["messages"]
    assert message["status"] == "sent" and message["attempts"] == 2
    assert message["acceptance"].startswith("250 ") and "TEST42" in message["acceptance"]
    assert message["sent_at"] and message["accepted_at"]
    assert len(await sent_events(message["id"])) == 1  # recorded exactly once
    assert notice["status"] == "delivered" and notice["clock_started"] is False


async def test_webhook_signature_verifies_and_rotation_signs_with_both(
    api, tokens, clock, fast_settings, receiver
):
    created = await add_endpoint(api, tokens, receiver)
    old_secret = created["secret"]
    assert old_secret.startswith("whsec_")
    listed = await api.get(
        f"/api/v1/clients/{tokens.client_a_id}/webhooks", headers=tokens.header(tokens.client_a)
    )
    assert listed.status_code == 200 and "secret" not in listed.text.replace("previous_secret", "")
    ref = await queue(tokens.client_a_id, clock(), channels=("webhook",))
    assert await delivery.deliver_due("w1", clock(), fast_settings) == 1
    ((headers, body),) = receiver.received
    assert headers["webhook-id"] == ref.message_ids[0]
    assert abs(int(headers["webhook-timestamp"]) - clock().timestamp()) <= 300
    assert verify_standard_webhook(old_secret, headers, body)
    payload = json.loads(body)
    assert payload["type"] == "test.notice"
    assert payload["data"]["id"] == ref.notice_id
    assert payload["data"]["receipt_url"].startswith("http")

    rotated = await api.post(
        f"/api/v1/clients/{tokens.client_a_id}/webhooks/{created['id']}/rotate",
        headers=tokens.header(tokens.client_a),
    )
    assert rotated.status_code == 201, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != old_secret
    await queue(tokens.client_a_id, clock(), channels=("webhook",))
    await delivery.deliver_due("w1", clock(), fast_settings)
    headers, body = receiver.received[-1]
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify_standard_webhook(new_secret, headers, body)
    assert verify_standard_webhook(old_secret, headers, body)

    clock.set(clock() + timedelta(hours=25))  # the overlap window is over
    await queue(tokens.client_a_id, clock(), channels=("webhook",))
    await delivery.deliver_due("w1", clock(), fast_settings)
    headers, body = receiver.received[-1]
    assert len(headers["webhook-signature"].split(" ")) == 1
    assert verify_standard_webhook(new_secret, headers, body)
    assert not verify_standard_webhook(old_secret, headers, body)


async def test_crash_between_send_and_record_is_resent_once_recorded_once(
    api, tokens, clock, fast_settings, receiver, monkeypatch
):
    await add_endpoint(api, tokens, receiver)
    ref = await queue(tokens.client_a_id, clock(), channels=("webhook",))

    async def crash(*args, **kwargs):
        raise KeyboardInterrupt("worker killed between send and record")

    monkeypatch.setattr(delivery, "record_outcomes", crash)
    with pytest.raises(KeyboardInterrupt):
        await delivery.deliver_due("doomed", clock(), fast_settings)
    monkeypatch.undo()
    assert receiver.ids() == ref.message_ids  # it was sent
    row = await OutboxMessage.select().where(OutboxMessage.id == ref.message_ids[0]).first()
    assert row["status"] == "sending" and row["sent_at"] is None  # but not recorded

    clock.set(clock() + timedelta(seconds=31))
    assert await delivery.deliver_due("survivor", clock(), fast_settings) == 1
    assert receiver.ids() == ref.message_ids * 2  # at least once, same webhook-id
    assert len(await sent_events(ref.message_ids[0])) == 1  # recorded exactly once
    # The dead worker coming back cannot record over the survivor.
    outcome = delivery.Outcome(
        {**dict(row), "notice": ref.notice_id, "attempts": 1}, True, acceptance="HTTP 200"
    )
    sent = await delivery.record_outcomes(
        "doomed", [outcome], now=clock(), accepted_at=clock(), settings=fast_settings
    )
    assert sent == 0
    assert len(await sent_events()) == 1


async def test_retries_back_off_then_dead_letter_then_dpo_retry(
    api, tokens, clock, fast_settings, receiver
):
    await add_endpoint(api, tokens, receiver)
    receiver.statuses = [500, 503, 502]
    ref = await queue(tokens.client_a_id, clock(), channels=("webhook",))
    message_id = ref.message_ids[0]
    assert await delivery.deliver_due("w", clock(), fast_settings) == 1
    assert await delivery.deliver_due("w", clock(), fast_settings) == 0  # backing off (1 s)
    clock.set(clock() + timedelta(seconds=1))
    assert await delivery.deliver_due("w", clock(), fast_settings) == 1
    clock.set(clock() + timedelta(seconds=1))
    assert await delivery.deliver_due("w", clock(), fast_settings) == 0  # now 2 s
    clock.set(clock() + timedelta(seconds=1))
    assert await delivery.deliver_due("w", clock(), fast_settings) == 1
    dead = await api.get(
        "/api/v1/notifications/outbox?status=dead", headers=tokens.header(tokens.dpo)
    )
    assert dead.status_code == 200
    (item,) = dead.json()["items"]
    assert item["id"] == message_id and item["attempts"] == 3
    assert item["last_error"].startswith("HTTP 502")
    notice = await service.get_notice(ref.notice_id)
    assert notice["status"] == "failed"
    forbidden = await api.post(
        f"/api/v1/notifications/outbox/{message_id}/retry", headers=tokens.header(tokens.client_a)
    )
    assert forbidden.status_code == 403
    retried = await api.post(
        f"/api/v1/notifications/outbox/{message_id}/retry", headers=tokens.header(tokens.dpo)
    )
    assert retried.status_code == 201, retried.text
    assert retried.json()["status"] == "pending"
    again = await api.post(
        f"/api/v1/notifications/outbox/{message_id}/retry", headers=tokens.header(tokens.dpo)
    )
    assert again.status_code == 409
    assert await delivery.deliver_due("w", clock(), fast_settings) == 1
    assert receiver.ids() == [message_id] * 4
    assert (await service.get_notice(ref.notice_id))["status"] == "delivered"


async def test_smtp_permanent_refusal_is_dead_at_once(tokens, clock, fast_settings, smtp_server):
    smtp_server.refuse_with = "554 5.7.1 rejected"
    ref = await queue(tokens.client_a_id, clock(), channels=("email",))
    await delivery.deliver_due("w", clock(), fast_settings)
    (message,) = (await service.get_notice(ref.notice_id))["messages"]
    assert message["status"] == "dead" and message["attempts"] == 1
    assert "554" in message["last_error"]


async def test_worker_loop_delivers_the_outbox(tokens, clock, fast_settings, smtp_server):
    from gdpr_vault.jobs.worker import run_worker

    ref = await queue(tokens.client_a_id, clock(), channels=("email",))
    await run_worker(fast_settings, clock, asyncio.Event(), max_idle_loops=1)
    assert len(smtp_server.messages) == 1
    assert (await service.get_notice(ref.notice_id))["status"] == "delivered"


async def test_dpo_alert_is_deduplicated_and_mailed_to_the_dpo(
    clock, fast_settings, smtp_server, db
):
    async with db_tx():
        first = await service.queue_dpo_alert(
            kind="breach.clock", facts={"percent": 75}, now=clock(), dedupe_key="brc_x:75"
        )
        second = await service.queue_dpo_alert(
            kind="breach.clock", facts={"percent": 75}, now=clock(), dedupe_key="brc_x:75"
        )
    assert first is not None and second is None
    await delivery.deliver_due("w", clock(), fast_settings)
    ((_, rcpts, content),) = smtp_server.messages
    assert rcpts == [fast_settings.dpo_alert_email]
    assert b"breach.clock" in content


def db_tx():
    return db.transaction()


async def test_two_workers_on_postgres_never_deliver_one_message_twice(
    api, tokens, clock, fast_settings, receiver
):
    if not db.is_postgres():
        pytest.skip("concurrent claims (FOR UPDATE SKIP LOCKED) are exercised on PostgreSQL only")
    # two workers, each with its own connections from the pool the db fixture started
    await _two_workers(api, tokens, clock, fast_settings, receiver)


async def _two_workers(api, tokens, clock, fast_settings, receiver):
    for _ in range(10):
        await add_endpoint(api, tokens, receiver)
    for i in range(100):
        await queue(tokens.client_a_id, clock(), channels=("webhook",), subject_id=f"t-{i}")
    total = await OutboxMessage.count()
    assert total == 1000
    receiver.delay = 0.001
    from dataclasses import replace

    settings = replace(
        fast_settings, notify_batch_size=20, notify_concurrency=8, notify_max_attempts=10
    )

    async def worker(name):
        while await delivery.deliver_due(name, clock(), settings):
            pass

    # A webhook attempt that times out on a loaded machine is retried after its backoff; the
    # clock is frozen, so move it past the backoff and let both workers finish the retries.
    for _ in range(10):
        await asyncio.gather(worker("w1"), worker("w2"))
        if not await OutboxMessage.count().where(OutboxMessage.status != "sent"):
            break
        clock.set(clock() + timedelta(seconds=settings.notify_backoff_max_seconds + 1))
    ids = receiver.ids()
    assert len(set(ids)) == 1000  # every message reached the receiver
    retries = sum(r["attempts"] for r in await OutboxMessage.select(OutboxMessage.attempts)) - 1000
    assert len(ids) - 1000 <= retries  # a repeat is only ever a recorded retry...
    assert receiver.overlaps == 0  # ...never two workers sending one message at once
    assert await OutboxMessage.count().where(OutboxMessage.status == "sent") == 1000
    assert len(await sent_events()) == 1000
