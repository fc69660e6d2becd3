"""Receipts (link, API, DPO entry), receipt hooks, the unconfirmed flag, the Atom feed,
manual notices with dry runs, and who may see what."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from xml.etree import ElementTree as ET

import pytest

from gdpr_vault.errors import ValidationProblem
from gdpr_vault.notifications import delivery, service
from gdpr_vault.notifications.tables import Notice
from tests.notifications.test_delivery import queue

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def hook_calls():
    calls = []

    async def hook(notice, received_at):
        calls.append((notice, received_at))

    service.register_receipt_hook("test.notice", hook)
    try:
        yield calls
    finally:
        service._RECEIPT_HOOKS["test.notice"].remove(hook)


async def test_link_receipt_starts_the_clock_once_and_hooks_fire_once(
    api, tokens, clock, fast_settings, smtp_server, hook_calls
):
    queued_at = clock()
    ref = await queue(tokens.client_a_id, queued_at, channels=("email",))
    await delivery.deliver_due("w", clock(), fast_settings)
    text = smtp_server.messages[0][2].decode()
    url = re.search(r"http://\S+/api/v1/receipts/\S+", text.replace("=\r\n", "")).group(0)
    path = url.split("8000", 1)[1]
    clock.set(queued_at + timedelta(hours=2))
    response = await api.get(path)  # no token: the link is the credential
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    notice = await service.get_notice(ref.notice_id)
    assert notice["receipt_method"] == "link" and notice["clock_started"] is True
    assert await service.notice_received_at(ref.notice_id) == clock()
    assert len(hook_calls) == 1
    hooked, received_at = hook_calls[0]
    assert hooked["id"] == ref.notice_id and hooked["kind"] == "test.notice"
    assert set(hooked) == {"id", "client_id", "kind", "subject_type", "subject_id", "facts"}
    assert received_at == clock()
    # Clicked again, then acknowledged by API: recorded, but the receipt time does not move.
    clock.set(queued_at + timedelta(hours=3))
    assert (await api.get(path)).status_code == 200
    again = await api.post(
        f"/api/v1/clients/{tokens.client_a_id}/notices/{ref.notice_id}/receipt",
        json={},
        headers=tokens.header(tokens.client_a),
    )
    assert again.status_code == 201, again.text
    body = again.json()
    assert body["received_at"] == "2026-03-02T11:00:00Z"
    assert [r["method"] for r in body["receipts"]] == ["link", "link", "api"]
    assert [r["first"] for r in body["receipts"]] == [True, False, False]
    assert len(hook_calls) == 1
    forged = await api.get(path[:-3] + "abc")
    assert forged.status_code == 404


async def test_dpo_entry_rules_and_client_api_receipt(api, tokens, clock, hook_calls):
    queued_at = clock()
    ref = await queue(tokens.client_a_id, queued_at, channels=("email",))
    clock.set(queued_at + timedelta(days=3))
    url = f"/api/v1/clients/{tokens.client_a_id}/notices/{ref.notice_id}/receipt"
    dpo = tokens.header(tokens.dpo)
    naive = await api.post(url, json={"received_at": "2026-03-03T10:00:00"}, headers=dpo)
    assert naive.status_code == 422 and naive.json()["rule"] == "offset-required"
    no_evidence = await api.post(url, json={"received_at": "2026-03-03T10:00:00Z"}, headers=dpo)
    assert no_evidence.json()["field"] == "evidence"
    future = await api.post(
        url, json={"received_at": "2026-03-09T10:00:00Z", "evidence": "x"}, headers=dpo
    )
    assert future.status_code == 422 and future.json()["rule"] == "not-in-future"
    before = await api.post(
        url, json={"received_at": "2026-03-01T10:00:00Z", "evidence": "x"}, headers=dpo
    )
    assert before.status_code == 422 and before.json()["rule"] == "after-queued"
    client_dpo_entry = await api.post(
        url, json={"method": "dpo_entry"}, headers=tokens.header(tokens.client_a)
    )
    assert client_dpo_entry.status_code == 422
    auditor = await api.post(url, json={}, headers=tokens.header(tokens.auditor_a))
    assert auditor.status_code == 403
    assert not hook_calls and await service.notice_received_at(ref.notice_id) is None
    ok = await api.post(
        url,
        json={
            "received_at": "2026-03-03T10:00:00+01:00",
            "method": "dpo_entry",
            "evidence": "registered letter 1A 234 567 8901 2 received on 3 March",
        },
        headers=dpo,
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["received_at"] == "2026-03-03T09:00:00Z"
    assert ok.json()["receipt_method"] == "dpo_entry"
    assert len(hook_calls) == 1


async def test_record_receipt_refuses_naive_instants(tokens, clock):
    ref = await queue(tokens.client_a_id, clock(), channels=("email",))
    with pytest.raises(ValidationProblem) as caught:
        await service.record_receipt(
            ref.notice_id,
            received_at=datetime(2026, 3, 2, 10, 0),
            method="api",
            actor="t",
            now=clock(),
        )
    assert caught.value.rule == "offset-required"


async def test_unconfirmed_after_the_configured_hours(api, tokens, clock):
    queued_at = clock()
    ref = await queue(tokens.client_a_id, queued_at, channels=("email",))
    url = f"/api/v1/clients/{tokens.client_a_id}/notices/{ref.notice_id}"
    clock.set(queued_at + timedelta(hours=47, minutes=59))
    early = (await api.get(url, headers=tokens.header(tokens.client_a))).json()
    assert early["clock_started"] is False and early["unconfirmed"] is False
    clock.set(queued_at + timedelta(hours=48))
    late = (await api.get(url, headers=tokens.header(tokens.client_a))).json()
    assert late["unconfirmed"] is True
    listed = await api.get(
        f"/api/v1/clients/{tokens.client_a_id}/notices", headers=tokens.header(tokens.dpo)
    )
    assert listed.json()["items"][0]["unconfirmed"] is True


async def test_feed_is_valid_atom_and_scoped(api, tokens, clock):
    for i in range(3):
        await queue(tokens.client_a_id, clock(), channels=("email",), subject_id=f"s{i}")
    await queue(tokens.client_b_id, clock(), channels=("email",))
    url = f"/api/v1/clients/{tokens.client_a_id}/notices/feed.atom"
    response = await api.get(url, headers=tokens.header(tokens.client_a))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{name}") is not None, name
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 3
    ids = set()
    for entry in entries:
        for name in ("id", "title", "updated"):
            assert entry.find(f"{ATOM}{name}").text, name
        datetime.fromisoformat(entry.find(f"{ATOM}updated").text.replace("Z", "+00:00"))
        ids.add(entry.find(f"{ATOM}id").text)
    assert len(ids) == 3
    assert tokens.client_b_id not in response.text
    other = await api.get(url, headers=tokens.header(tokens.client_b))
    assert other.status_code == 404


async def test_client_b_cannot_read_client_a_notices(api, tokens, clock):
    ref = await queue(tokens.client_a_id, clock(), channels=("email",))
    a = tokens.client_a_id
    for path in (f"/api/v1/clients/{a}/notices", f"/api/v1/clients/{a}/notices/{ref.notice_id}"):
        assert (await api.get(path, headers=tokens.header(tokens.client_b))).status_code == 404
        assert (await api.get(path, headers=tokens.header(tokens.auditor_a))).status_code == 200
    # B's own scope does not reach A's notice either.
    b_path = f"/api/v1/clients/{tokens.client_b_id}/notices/{ref.notice_id}"
    assert (await api.get(b_path, headers=tokens.header(tokens.client_b))).status_code == 404
    page = await api.get(
        f"/api/v1/clients/{a}/notices?limit=1", headers=tokens.header(tokens.client_a)
    )
    assert [n["id"] for n in page.json()["items"]] == [ref.notice_id]


async def test_manual_notice_dry_run_writes_nothing(api, tokens, clock):
    url = f"/api/v1/clients/{tokens.client_a_id}/notices"
    body = {
        "kind": "manual",
        "subject": "Changement d'adresse",
        "body": "Premier paragraphe <script>x</script>.\n\nSecond.",
        "channels": ["email"],
    }
    preview = await api.post(url + "?dry_run=true", json=body, headers=tokens.header(tokens.dpo))
    assert preview.status_code == 200, preview.text  # nothing created
    (message,) = preview.json()["messages"]
    assert message["subject"] == "Changement d'adresse"
    assert "<script>x</script>" in message["text"]
    assert "&lt;script&gt;" in message["html"] and "<script>" not in message["html"]
    assert await Notice.count() == 0
    client = await api.post(url, json=body, headers=tokens.header(tokens.client_a))
    assert client.status_code == 403
    sent = await api.post(url, json=body, headers=tokens.header(tokens.dpo))
    assert sent.status_code == 201 and sent.json()["kind"] == "manual"
    assert await Notice.count() == 1


async def test_programming_errors_and_no_recipient(api, tokens, clock):
    with pytest.raises(LookupError):
        await queue(tokens.client_a_id, clock(), kind="no.such.kind")
    with pytest.raises(Exception, match="message"):
        await queue(tokens.client_a_id, clock(), facts={})  # StrictUndefined
    with pytest.raises(ValidationProblem) as caught:
        await queue(tokens.client_a_id, clock(), channels=("webhook",))  # no endpoint yet
    assert caught.value.rule == "no-recipient" and caught.value.field == "client_id"
    assert await Notice.count() == 0
