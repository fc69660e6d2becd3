"""Notices as a transactional outbox: rendered, hashed and written in the caller's transaction.

``queue_notice`` and ``queue_dpo_alert`` open no transaction: they join the caller's, so a state
change and the notice announcing it commit or vanish together. The worker delivers the outbox
(``delivery.py``); receipts are recorded here and start other capabilities' clocks through
receipt hooks.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlparse

from gdpr_vault import db
from gdpr_vault.contracts import service as contracts
from gdpr_vault.errors import Conflict, NotFound, ValidationProblem
from gdpr_vault.evidence import trail
from gdpr_vault.ids import is_valid_id, new_id
from gdpr_vault.notifications import messages
from gdpr_vault.notifications.messages import Attachment
from gdpr_vault.notifications.render import Rendered, has_template, render
from gdpr_vault.notifications.schemas import ManualNoticeIn, ReceiptIn, WebhookEndpointIn
from gdpr_vault.notifications.tables import (
    Notice,
    NoticeReceipt,
    OutboxMessage,
    WebhookEndpoint,
)
from gdpr_vault.pagination import PageRequest, page
from gdpr_vault.settings import get_settings
from gdpr_vault.timeutil import NaiveDatetimeError, require_aware, utc_iso

__all__ = [
    "Attachment",
    "NoticeRef",
    "get_notice",
    "notice_received_at",
    "queue_dpo_alert",
    "queue_notice",
    "record_receipt",
    "register_receipt_hook",
]

CHANNELS = ("email", "webhook")
ReceiptMethod = Literal["link", "api", "dpo_entry"]
ReceiptHook = Callable[[dict[str, Any], datetime], Awaitable[None]]
_RECEIPT_HOOKS: dict[str, list[ReceiptHook]] = {}


@dataclass(frozen=True)
class NoticeRef:
    notice_id: str
    message_ids: list[str]
    recipients: int


@dataclass(frozen=True)
class _Draft:
    """One outbox message before it is written: who, how, and the exact bytes."""

    id: str
    channel: str
    recipient: str
    endpoint_id: str | None
    language: str
    subject: str
    content: bytes
    content_type: str
    rendered: Rendered | None = None


def register_receipt_hook(kind: str, hook: ReceiptHook) -> None:
    """Run ``hook(notice, received_at)`` in the transaction recording a notice's first receipt."""
    hooks = _RECEIPT_HOOKS.setdefault(kind, [])
    if hook not in hooks:
        hooks.append(hook)


def _language(value: str | None, default: str) -> str:
    return value if value in ("fr", "en") else default


def _context(
    *,
    notice: Mapping[str, Any],
    facts: Mapping[str, Any],
    client: Mapping[str, Any] | None,
    recipient_name: str,
    receipt_url: str | None,
    language: str,
) -> dict[str, Any]:
    return {
        "facts": dict(facts),
        "notice": dict(notice),
        "client": dict(client or {}),
        "recipient": {"name": recipient_name},
        "receipt_url": receipt_url,
        "processor_name": get_settings().processor_name,
        "language": language,
    }


def _notice_public(row: Mapping[str, Any]) -> dict[str, Any]:
    """What templates, webhook bodies and receipt hooks see of a notice."""
    return {
        "id": row["id"],
        "client_id": row["client_id"],
        "kind": row["kind"],
        "subject_type": row["subject_type"],
        "subject_id": row["subject_id"],
        "facts": json.loads(row["facts_json"]) if "facts_json" in row else row["facts"],
        "created_at": utc_iso(row["created_at"]),
    }


def _email_draft(
    *,
    notice: Mapping[str, Any],
    facts: Mapping[str, Any],
    client: Mapping[str, Any] | None,
    kind: str,
    name: str,
    email: str,
    language: str,
    requires_receipt: bool,
    attachments: Sequence[Attachment],
    now: datetime,
) -> _Draft:
    message_id = new_id("msg")
    url = messages.receipt_url(message_id) if requires_receipt else None
    rendered = render(
        kind,
        language,
        _context(
            notice=notice,
            facts=facts,
            client=client,
            recipient_name=name,
            receipt_url=url,
            language=language,
        ),
    )
    content = messages.build_email(
        message_id=message_id,
        notice_id=notice["id"],
        sender=get_settings().smtp_from,
        to_name=name,
        to_email=email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        attachments=attachments,
        date=now,
    )
    return _Draft(
        message_id,
        "email",
        email,
        None,
        rendered.language,
        rendered.subject,
        content,
        "message/rfc822",
        rendered,
    )


def _webhook_draft(
    *,
    notice: Mapping[str, Any],
    facts: Mapping[str, Any],
    client: Mapping[str, Any],
    kind: str,
    endpoint_id: str,
    language: str,
    requires_receipt: bool,
    attachments: Sequence[Attachment],
    now: datetime,
) -> _Draft:
    message_id = new_id("msg")
    url = messages.receipt_url(message_id) if requires_receipt else None
    rendered: Rendered = render(
        kind,
        language,
        _context(
            notice=notice,
            facts=facts,
            client=client,
            recipient_name=client.get("legal_name", ""),
            receipt_url=url,
            language=language,
        ),
    )
    content = messages.build_webhook_body(
        kind=kind,
        created_at=now,
        notice=notice,
        language=rendered.language,
        subject=rendered.subject,
        text=rendered.text,
        receipt_url=url,
        attachments=attachments,
    )
    return _Draft(
        message_id,
        "webhook",
        endpoint_id,
        endpoint_id,
        rendered.language,
        rendered.subject,
        content,
        "application/json",
        rendered,
    )


async def _write(
    *,
    notice_row: Notice,
    drafts: Sequence[_Draft],
    now: datetime,
    actor: str,
    facts: Mapping[str, Any],
) -> NoticeRef:
    await Notice.insert(notice_row)
    if drafts:
        await OutboxMessage.insert(
            *[
                OutboxMessage(
                    id=d.id,
                    notice=notice_row.id,
                    client_id=notice_row.client_id,
                    channel=d.channel,
                    recipient=d.recipient,
                    endpoint_id=d.endpoint_id,
                    language=d.language,
                    subject=d.subject,
                    content=d.content.decode("utf-8"),
                    content_type=d.content_type,
                    sha256=messages.sha256_hex(d.content),
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
                for d in drafts
            ]
        )
    await trail.append(
        now=now,
        actor=actor,
        action="notice.queued",
        subject_type="notice",
        subject_id=notice_row.id,
        client_id=notice_row.client_id,
        after=dict(facts),
        details={
            "notice_id": notice_row.id,
            "kind": notice_row.kind,
            "about": {"type": notice_row.subject_type, "id": notice_row.subject_id},
            "message_count": len(drafts),
            "messages": [
                {"id": d.id, "channel": d.channel, "sha256": messages.sha256_hex(d.content)}
                for d in drafts
            ],
            "requires_receipt": notice_row.requires_receipt,
        },
    )
    recipients = len({(d.channel, d.recipient) for d in drafts})
    return NoticeRef(notice_row.id, [d.id for d in drafts], recipients)


async def queue_notice(
    *,
    client_id: str,
    kind: str,
    subject_type: str,
    subject_id: str,
    facts: Mapping[str, Any],
    now: datetime,
    actor: str,
    channels: Sequence[str] = ("email", "webhook"),
    attachments: Sequence[Attachment] = (),
    requires_receipt: bool = True,
) -> NoticeRef:
    """Render and write one notice and its outbox messages; call inside ``db.transaction()``."""
    notice_row, drafts, stored_facts = await _prepare(
        client_id=client_id,
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        facts=facts,
        now=now,
        actor=actor,
        channels=channels,
        attachments=attachments,
        requires_receipt=requires_receipt,
    )
    return await _write(
        notice_row=notice_row, drafts=drafts, now=now, actor=actor, facts=stored_facts
    )


async def _prepare(
    *,
    client_id: str,
    kind: str,
    subject_type: str,
    subject_id: str,
    facts: Mapping[str, Any],
    now: datetime,
    actor: str,
    channels: Sequence[str],
    attachments: Sequence[Attachment],
    requires_receipt: bool,
) -> tuple[Notice, list[_Draft], dict[str, Any]]:
    """Everything ``queue_notice`` writes, computed without writing (dry runs use it too)."""
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise ValidationProblem(
            f"unknown channel(s) {unknown}", field="channels", rule="known-channel"
        )
    if not (has_template(kind, "fr") or has_template(kind, "en")):
        raise LookupError(f"no template for notice kind {kind!r}")
    client = await contracts.get_client(client_id)
    facts = json.loads(json.dumps(dict(facts), default=str))  # what the template sees is stored
    notice_id = new_id("ntc")
    notice_row = Notice(
        id=notice_id,
        client_id=client_id,
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        facts_json=json.dumps(facts, sort_keys=True, ensure_ascii=False),
        requires_receipt=requires_receipt,
        dedupe_key=None,
        created_at=now,
        created_by=actor,
    )
    public = _notice_public(notice_row.to_dict())
    client_view = {"id": client["id"], "legal_name": client["legal_name"]}
    client_language = _language(client.get("language"), "fr")
    drafts: list[_Draft] = []
    if "email" in channels:
        for contact in client["contacts"]:
            if not contact["receives_notices"]:
                continue
            drafts.append(
                _email_draft(
                    notice=public,
                    facts=facts,
                    client=client_view,
                    kind=kind,
                    name=contact["name"],
                    email=contact["email"],
                    language=_language(contact.get("language"), client_language),
                    requires_receipt=requires_receipt,
                    attachments=attachments,
                    now=now,
                )
            )
    if "webhook" in channels:
        endpoints = await (
            WebhookEndpoint.select(WebhookEndpoint.id)
            .where((WebhookEndpoint.client == client_id) & (WebhookEndpoint.active.eq(True)))
            .order_by(WebhookEndpoint.id)
        )
        for endpoint in endpoints:
            drafts.append(
                _webhook_draft(
                    notice=public,
                    facts=facts,
                    client=client_view,
                    kind=kind,
                    endpoint_id=endpoint["id"],
                    language=client_language,
                    requires_receipt=requires_receipt,
                    attachments=attachments,
                    now=now,
                )
            )
    if not drafts:
        raise ValidationProblem(
            f"client {client_id} has no recipient for channels {list(channels)}: add a contact "
            "that receives notices or a webhook endpoint",
            field="client_id",
            rule="no-recipient",
        )
    return notice_row, drafts, facts


async def queue_dpo_alert(
    *, kind: str, facts: Mapping[str, Any], now: datetime, dedupe_key: str
) -> str | None:
    """An e-mail to the processor's DPO, once per ``dedupe_key``; call inside a transaction.

    ``kind`` uses its own templates when some ship for it, else the generic ``dpo.alert``.
    """
    existing = await Notice.select(Notice.id).where(Notice.dedupe_key == dedupe_key).first()
    if existing:
        return None
    settings = get_settings()
    template = kind if (has_template(kind, "fr") or has_template(kind, "en")) else "dpo.alert"
    facts = json.loads(json.dumps(dict(facts), default=str))
    notice_row = Notice(
        id=new_id("ntc"),
        client_id=None,  # never in a client's own notice list or feed
        kind=kind,
        subject_type="dpo_alert",
        subject_id=dedupe_key[:80],
        facts_json=json.dumps(facts, sort_keys=True, ensure_ascii=False),
        requires_receipt=False,
        dedupe_key=dedupe_key,
        created_at=now,
        created_by="system",
    )
    public = _notice_public(notice_row.to_dict())
    message_id = new_id("msg")
    language = _language(settings.dpo_alert_language, "fr")
    context = _context(
        notice=public,
        facts=facts,
        client=None,
        recipient_name="DPO",
        receipt_url=None,
        language=language,
    )
    context["alert_kind"] = kind
    rendered = render(template, language, context)
    content = messages.build_email(
        message_id=message_id,
        notice_id=notice_row.id,
        sender=settings.smtp_from,
        to_name="DPO",
        to_email=settings.dpo_alert_email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        attachments=(),
        date=now,
    )
    draft = _Draft(
        message_id,
        "email",
        settings.dpo_alert_email,
        None,
        rendered.language,
        rendered.subject,
        content,
        "message/rfc822",
    )
    ref = await _write(notice_row=notice_row, drafts=[draft], now=now, actor="system", facts=facts)
    return ref.notice_id


# --- reading --------------------------------------------------------------------------------


def message_out(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "notice_id": row["notice"],
        "client_id": row["client_id"],
        "channel": row["channel"],
        "recipient": row["recipient"],
        "language": row["language"],
        "subject": row["subject"],
        "sha256": row["sha256"],
        "status": row["status"],
        "attempts": row["attempts"],
        "next_attempt_at": utc_iso(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "sent_at": utc_iso(row["sent_at"]),
        "accepted_at": utc_iso(row["accepted_at"]),
        "acceptance": row["acceptance"],
        "last_error": row["last_error"],
    }


def _status(notice: Mapping[str, Any], statuses: Sequence[str]) -> str:
    if notice["received_at"] is not None:
        return "received"
    if "dead" in statuses:
        return "failed"
    if statuses and all(s == "sent" for s in statuses):
        return "delivered"
    return "pending"


async def _notice_row(notice_id: str, client_id: str | None = None) -> dict[str, Any]:
    row = None
    if is_valid_id(notice_id, "ntc"):
        query = Notice.select().where(Notice.id == notice_id)
        if client_id is not None:
            query = query.where(Notice.client_id == client_id)
        row = await query.first()
    if row is None:
        raise NotFound(f"notice {notice_id} not found", field="notice_id")
    return row


def _unconfirmed(row: Mapping[str, Any], now: datetime) -> bool:
    hours = get_settings().notice_unconfirmed_after_hours
    return bool(
        row["requires_receipt"]
        and row["received_at"] is None
        and now - row["created_at"] >= timedelta(hours=hours)
    )


async def notice_view(
    row: Mapping[str, Any], *, now: datetime | None = None, detail: bool = True
) -> dict[str, Any]:
    msgs = await (
        OutboxMessage.select(*_MESSAGE_COLUMNS)
        .where(OutboxMessage.notice == row["id"])
        .order_by(OutboxMessage.id)
    )
    out = _notice_public(row)
    out.update(
        {
            "requires_receipt": row["requires_receipt"],
            "created_by": row["created_by"],
            "status": _status(row, [m["status"] for m in msgs]),
            "subject": msgs[0]["subject"] if msgs else None,
            "sha256s": [m["sha256"] for m in msgs],
            "received_at": utc_iso(row["received_at"]),
            "receipt_method": row["receipt_method"],
            "clock_started": row["received_at"] is not None,
        }
    )
    if now is not None:
        out["unconfirmed"] = _unconfirmed(row, now)
    if detail:
        out["messages"] = [message_out(m) for m in msgs]
        receipts = await (
            NoticeReceipt.select()
            .where(NoticeReceipt.notice == row["id"])
            .order_by(NoticeReceipt.id)
        )
        out["receipts"] = [
            {
                "id": r["id"],
                "received_at": utc_iso(r["received_at"]),
                "method": r["method"],
                "actor": r["actor"],
                "evidence": r["evidence"],
                "first": r["first"],
                "recorded_at": utc_iso(r["recorded_at"]),
            }
            for r in receipts
        ]
    return out


async def get_notice(notice_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The notice, its messages' delivery state and its receipts; with ``now``, ``unconfirmed``."""
    return await notice_view(await _notice_row(notice_id), now=now)


async def notice_received_at(notice_id: str) -> datetime | None:
    """When the recipient acknowledged the notice first; None while unconfirmed."""
    return (await _notice_row(notice_id))["received_at"]


# --- receipts -------------------------------------------------------------------------------


async def record_receipt(
    notice_id: str,
    *,
    received_at: datetime,
    method: Literal["link", "api", "dpo_entry"],
    actor: str,
    now: datetime,
    evidence: str | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """Record one acknowledgement; only the first sets the receipt time and runs the hooks."""
    try:
        require_aware(received_at, "received_at")
    except NaiveDatetimeError as exc:
        raise ValidationProblem(str(exc), field="received_at", rule="offset-required") from exc
    if method not in ("link", "api", "dpo_entry"):
        raise ValidationProblem(f"unknown method {method!r}", field="method", rule="known-method")
    if received_at > now:
        raise ValidationProblem(
            "received_at is in the future", field="received_at", rule="not-in-future"
        )
    async with db.transaction():
        row = await _notice_row(notice_id)
        if received_at < row["created_at"]:
            raise ValidationProblem(
                "received_at is before the notice was queued",
                field="received_at",
                rule="after-queued",
            )
        claimed = await (
            Notice.update({Notice.received_at: received_at, Notice.receipt_method: method})
            .where((Notice.id == notice_id) & Notice.received_at.is_null())
            .returning(Notice.id)
        )
        first = bool(claimed)
        receipt_id = new_id("rcp")
        await NoticeReceipt.insert(
            NoticeReceipt(
                id=receipt_id,
                notice=notice_id,
                message_id=message_id,
                received_at=received_at,
                method=method,
                actor=actor,
                evidence=evidence,
                first=first,
                recorded_at=now,
            )
        )
        if first:
            hook_notice = _notice_public(row)
            hook_notice.pop("created_at")
            for hook in _RECEIPT_HOOKS.get(row["kind"], []):
                await hook(hook_notice, received_at)
        await trail.append(
            now=now,
            actor=actor,
            action="notice.received",
            subject_type="notice",
            subject_id=notice_id,
            client_id=row["client_id"],
            after={"evidence": evidence} if evidence else None,
            details={
                "notice_id": notice_id,
                "receipt_id": receipt_id,
                "method": method,
                "received_at": utc_iso(received_at),
                "first": first,
                "message_id": message_id,
            },
        )
    return await get_notice(notice_id, now=now)


async def receipt_by_link(token: str, now: datetime) -> dict[str, Any]:
    """The one-click link of an e-mail: the HMAC token names the message, hence the notice."""
    message_id = messages.message_id_of_token(token)
    row = None
    if message_id is not None:
        row = await (
            OutboxMessage.select(OutboxMessage.notice).where(OutboxMessage.id == message_id).first()
        )
    if row is None:
        raise NotFound("this receipt link is not valid", field="token")
    return await record_receipt(
        row["notice"],
        received_at=now,
        method="link",
        actor=f"receipt-link:{message_id}",
        now=now,
        message_id=message_id,
    )


# --- lists ----------------------------------------------------------------------------------

_MESSAGE_COLUMNS = (
    OutboxMessage.id,
    OutboxMessage.notice,
    OutboxMessage.client_id,
    OutboxMessage.channel,
    OutboxMessage.recipient,
    OutboxMessage.language,
    OutboxMessage.subject,
    OutboxMessage.sha256,
    OutboxMessage.status,
    OutboxMessage.attempts,
    OutboxMessage.next_attempt_at,
    OutboxMessage.sent_at,
    OutboxMessage.accepted_at,
    OutboxMessage.acceptance,
    OutboxMessage.last_error,
)


async def list_notices(client_id: str, request: PageRequest, now: datetime) -> dict[str, Any]:
    """A client's notices, newest first (ids sort by time), cursor-paginated."""
    await contracts.get_client(client_id)
    query = (
        Notice.select()
        .where(Notice.client_id == client_id)
        .order_by(Notice.id, ascending=False)
        .limit(request.limit + 1)
    )
    if request.cursor:
        query = query.where(Notice.id < request.cursor)
    rows = await query
    items = [await notice_view(r, now=now, detail=False) for r in rows]
    return page(items, request)


async def get_client_notice(client_id: str, notice_id: str, now: datetime) -> dict[str, Any]:
    return await notice_view(await _notice_row(notice_id, client_id), now=now)


# --- manual notices (DPO) --------------------------------------------------------------------


def _manual_facts(data: ManualNoticeIn) -> dict[str, Any]:
    return {"subject": data.subject, "body": data.body}


async def manual_notice(
    client_id: str, data: ManualNoticeIn, *, actor: str, now: datetime, dry_run: bool
) -> dict[str, Any]:
    """A DPO-written notice; ``dry_run`` renders it for every recipient and writes nothing."""
    kwargs: dict[str, Any] = {
        "client_id": client_id,
        "kind": "manual",
        "subject_type": data.subject_type,
        "subject_id": data.subject_id or "-",
        "facts": _manual_facts(data),
        "now": now,
        "actor": actor,
        "channels": tuple(data.channels),
        "attachments": (),
        "requires_receipt": data.requires_receipt,
    }
    if dry_run:
        _, drafts, _ = await _prepare(**kwargs)
        return {
            "dry_run": True,
            "messages": [
                {
                    "channel": d.channel,
                    "recipient": d.recipient,
                    "language": d.language,
                    "subject": d.subject,
                    "text": d.rendered.text if d.rendered else None,
                    "html": d.rendered.html if d.rendered else None,
                    "sha256": messages.sha256_hex(d.content),
                }
                for d in drafts
            ],
        }
    async with db.transaction():
        ref = await queue_notice(**kwargs)
    return await get_notice(ref.notice_id, now=now)


# --- receipts through the API -----------------------------------------------------------------


async def api_receipt(
    client_id: str, notice_id: str, data: ReceiptIn, *, role: str, actor: str, now: datetime
) -> dict[str, Any]:
    """A client acknowledges itself (``api``); the DPO records a receipt proven otherwise."""
    await _notice_row(notice_id, client_id)
    if data.received_at is not None and data.received_at.utcoffset() is None:
        raise ValidationProblem(
            "received_at must carry a UTC offset", field="received_at", rule="offset-required"
        )
    if role == "dpo":
        method = data.method or "dpo_entry"
        if method != "dpo_entry":
            raise ValidationProblem(
                "a DPO records receipts as dpo_entry", field="method", rule="dpo-entry-only"
            )
        if data.received_at is None:
            raise ValidationProblem(
                "received_at is required for a DPO entry", field="received_at", rule="required"
            )
        if not data.evidence:
            raise ValidationProblem(
                "evidence is required for a DPO entry (e.g. the registered letter's receipt)",
                field="evidence",
                rule="required",
            )
    else:
        method = data.method or "api"
        if method != "api":
            raise ValidationProblem(
                "only the DPO records dpo_entry receipts", field="method", rule="role:dpo"
            )
    return await record_receipt(
        notice_id,
        received_at=data.received_at or now,
        method=method,
        actor=actor,
        now=now,
        evidence=data.evidence,
    )


# --- the DPO's outbox -------------------------------------------------------------------------


async def list_outbox(status: str | None, request: PageRequest) -> dict[str, Any]:
    query = (
        OutboxMessage.select(*_MESSAGE_COLUMNS)
        .order_by(OutboxMessage.id, ascending=False)
        .limit(request.limit + 1)
    )
    if status:
        query = query.where(OutboxMessage.status == status)
    if request.cursor:
        query = query.where(OutboxMessage.id < request.cursor)
    return page([message_out(r) for r in await query], request)


async def retry_message(message_id: str, *, actor: str, now: datetime) -> dict[str, Any]:
    """Put a dead letter back in the queue with a fresh attempt budget (same id, same bytes)."""
    if not is_valid_id(message_id, "msg"):
        raise NotFound(f"message {message_id} not found", field="message_id")
    async with db.transaction():
        row = (
            await OutboxMessage.select(*_MESSAGE_COLUMNS)
            .where(OutboxMessage.id == message_id)
            .first()
        )
        if row is None:
            raise NotFound(f"message {message_id} not found", field="message_id")
        if row["status"] != "dead":
            raise Conflict(f"message is {row['status']}; only dead messages are retried")
        await OutboxMessage.update(
            {
                OutboxMessage.status: "pending",
                OutboxMessage.attempts: 0,
                OutboxMessage.next_attempt_at: now,
                OutboxMessage.lease_until: None,
                OutboxMessage.locked_by: None,
            }
        ).where(OutboxMessage.id == message_id)
        await trail.append(
            now=now,
            actor=actor,
            action="notice.message.retried",
            subject_type="notice",
            subject_id=row["notice"],
            client_id=row["client_id"],
            details={"notice_id": row["notice"], "message_id": message_id},
        )
        row = (
            await OutboxMessage.select(*_MESSAGE_COLUMNS)
            .where(OutboxMessage.id == message_id)
            .first()
        )
    return message_out(row)


# --- webhook endpoints ------------------------------------------------------------------------


def _endpoint_out(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "client_id": row["client"],
        "url": row["url"],
        "description": row["description"],
        "active": row["active"],
        "created_at": utc_iso(row["created_at"]),
        "rotated_at": utc_iso(row["rotated_at"]),
        "previous_secret_valid_until": utc_iso(row["previous_secret_until"]),
    }


def _check_url(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise ValidationProblem("url must be an absolute http(s) URL", field="url", rule="http-url")
    if parsed.username or parsed.password:
        raise ValidationProblem("url must not carry credentials", field="url", rule="no-userinfo")


async def list_endpoints(client_id: str) -> list[dict[str, Any]]:
    await contracts.get_client(client_id)
    rows = await (
        WebhookEndpoint.select()
        .where(WebhookEndpoint.client == client_id)
        .order_by(WebhookEndpoint.id)
    )
    return [_endpoint_out(r) for r in rows]


async def _endpoint_row(client_id: str, endpoint_id: str) -> dict[str, Any]:
    row = None
    if is_valid_id(endpoint_id, "whk"):
        row = await (
            WebhookEndpoint.select()
            .where((WebhookEndpoint.id == endpoint_id) & (WebhookEndpoint.client == client_id))
            .first()
        )
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found", field="endpoint_id")
    return row


async def create_endpoint(
    client_id: str, data: WebhookEndpointIn, *, actor: str, now: datetime
) -> dict[str, Any]:
    """Register a URL; the signing secret is in this answer and never again."""
    _check_url(data.url)
    secret = messages.new_webhook_secret()
    endpoint_id = new_id("whk")
    async with db.transaction():
        await contracts.get_client(client_id)
        await WebhookEndpoint.insert(
            WebhookEndpoint(
                id=endpoint_id,
                client=client_id,
                url=data.url,
                description=data.description,
                secret=secret,
                active=True,
                created_at=now,
                created_by=actor,
            )
        )
        await trail.append(
            now=now,
            actor=actor,
            action="webhook.created",
            subject_type="webhook_endpoint",
            subject_id=endpoint_id,
            client_id=client_id,
            after={"url": data.url, "description": data.description},
        )
        row = await _endpoint_row(client_id, endpoint_id)
    return {**_endpoint_out(row), "secret": secret}


async def rotate_endpoint_secret(
    client_id: str, endpoint_id: str, *, actor: str, now: datetime
) -> dict[str, Any]:
    """A new secret; the old one keeps signing beside it for the overlap window."""
    secret = messages.new_webhook_secret()
    overlap = timedelta(hours=get_settings().webhook_rotation_overlap_hours)
    async with db.transaction():
        row = await _endpoint_row(client_id, endpoint_id)
        await WebhookEndpoint.update(
            {
                WebhookEndpoint.secret: secret,
                WebhookEndpoint.previous_secret: row["secret"],
                WebhookEndpoint.previous_secret_until: now + overlap,
                WebhookEndpoint.rotated_at: now,
            }
        ).where(WebhookEndpoint.id == endpoint_id)
        await trail.append(
            now=now,
            actor=actor,
            action="webhook.secret_rotated",
            subject_type="webhook_endpoint",
            subject_id=endpoint_id,
            client_id=client_id,
            details={"previous_secret_valid_until": utc_iso(now + overlap)},
        )
        row = await _endpoint_row(client_id, endpoint_id)
    return {**_endpoint_out(row), "secret": secret}


async def deactivate_endpoint(
    client_id: str, endpoint_id: str, *, actor: str, now: datetime
) -> dict[str, Any]:
    """Stop sending to an endpoint; its pending messages become dead letters on next attempt."""
    async with db.transaction():
        row = await _endpoint_row(client_id, endpoint_id)
        if not row["active"]:
            raise Conflict("webhook endpoint is already inactive")
        await WebhookEndpoint.update({WebhookEndpoint.active: False}).where(
            WebhookEndpoint.id == endpoint_id
        )
        await trail.append(
            now=now,
            actor=actor,
            action="webhook.deactivated",
            subject_type="webhook_endpoint",
            subject_id=endpoint_id,
            client_id=client_id,
        )
        row = await _endpoint_row(client_id, endpoint_id)
    return _endpoint_out(row)
