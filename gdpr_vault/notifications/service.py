"""Notices as a transactional outbox: rendered, hashed and written in the caller's transaction.

``queue_notice`` and ``queue_dpo_alert`` open no transaction: they join the caller's, so a state
change and the notice announcing it commit or vanish together. The worker delivers the outbox
(``delivery.py``); receipts are recorded here and start other capabilities' clocks through
receipt hooks.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlparse

from gdpr_vault import db
from gdpr_vault.bulk import insert_rows, where_in
from gdpr_vault.contracts import service as contracts
from gdpr_vault.errors import Conflict, NotFound, ValidationProblem
from gdpr_vault.evidence import trail
from gdpr_vault.ids import is_valid_id, new_id
from gdpr_vault.inputs import check_input_date
from gdpr_vault.notifications import messages, slots
from gdpr_vault.notifications.messages import Attachment
from gdpr_vault.notifications.render import Rendered, has_template, render
from gdpr_vault.notifications.schemas import ManualNoticeIn, ReceiptIn, WebhookEndpointIn
from gdpr_vault.notifications.slots import SlotRenderer
from gdpr_vault.notifications.tables import (
    Notice,
    NoticeReceipt,
    OutboxMessage,
    WebhookEndpoint,
)
from gdpr_vault.pagination import PageRequest, page
from gdpr_vault.settings import get_settings
from gdpr_vault.timeutil import (
    utc_iso,
)

__all__ = [
    "Attachment",
    "NoticeRef",
    "NoticeRequest",
    "clients_without_recipient",
    "get_notice",
    "notice_received_at",
    "queue_dpo_alert",
    "queue_notice",
    "queue_notices",
    "record_receipt",
    "register_receipt_hook",
]

CHANNELS = ("email", "webhook")
ReceiptMethod = Literal["link", "api", "dpo_entry"]
Renderer = Callable[[str, str, dict[str, Any]], Rendered]
ReceiptHook = Callable[[dict[str, Any], datetime], Awaitable[None]]
_RECEIPT_HOOKS: dict[str, list[ReceiptHook]] = {}


@dataclass(frozen=True)
class NoticeRef:
    notice_id: str
    message_ids: list[str]
    recipients: int


@dataclass(frozen=True)
class NoticeRequest:
    """One notice for :func:`queue_notices`: to which client, about what, with which facts.

    ``facts`` is JSON-like with string keys at every level, as JSON objects have (values that
    are not JSON are stored as their ``str``): its canonical text is stored once and hashed
    as it is (``_batch_event``), which is only the digest of the facts as read back when no
    key had to be turned into a string. The tests check it for every notice written."""

    client_id: str
    kind: str
    subject_type: str
    subject_id: str
    facts: Mapping[str, Any]
    channels: Sequence[str] = CHANNELS
    attachments: Sequence[Attachment] = ()
    requires_receipt: bool = True


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
    sha256: str
    rendered: Rendered | None = None


@dataclass(frozen=True)
class PreparedNotice:
    """One notice rendered but not yet written: its row, its messages and the facts it stores.

    What :func:`prepare_notices` returns and :func:`write_notices` writes: a fan-out renders
    outside its write transaction, so another worker can write meanwhile."""

    notice: dict[str, Any]
    drafts: list[_Draft]
    facts: dict[str, Any]


#: Notices per trail event and per INSERT statement in a bulk write.
BATCH = 500


def _chunks(items: Sequence[Any], size: int | None = None) -> Iterator[Sequence[Any]]:
    size = size or BATCH
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
        "facts": row["facts"] if "facts" in row else json.loads(row["facts_json"]),
        "created_at": utc_iso(row["created_at"]),
    }


def _email_draft(
    *,
    notice: Mapping[str, Any],
    facts: Mapping[str, Any],
    facts_text: str | None = None,
    client: Mapping[str, Any] | None,
    kind: str,
    name: str,
    email: str,
    language: str,
    requires_receipt: bool,
    attachments: Sequence[Attachment],
    now: datetime,
    sender: str,
    renderer: Renderer,
) -> _Draft:
    message_id = new_id("msg")
    url = messages.receipt_url(message_id) if requires_receipt else None
    context = _context(
        notice=notice,
        facts=facts,
        client=client,
        recipient_name=name,
        receipt_url=url,
        language=language,
    )
    if isinstance(renderer, SlotRenderer) and not attachments:
        filled = renderer.fill(kind, language, context, facts_text=facts_text)
        bodies = filled.bodies() if filled is not None else None
        if filled is not None and bodies is not None:
            envelope = {
                "message_id": message_id,
                "notice_id": notice["id"],
                "sender": sender,
                "to_name": name,
                "to_email": email,
                "date": now,
            }
            content = messages.build_encoded_email(
                **envelope, subject=filled.subject, text_body=bodies[0], html_body=bodies[1]
            )
            if slots.VERIFY:
                _verify_grouped(content, kind, language, context, **envelope)
            return _Draft(
                message_id,
                "email",
                email,
                None,
                filled.language,
                filled.subject,
                content,
                "message/rfc822",
                messages.sha256_hex(content),
            )
    rendered = renderer(kind, language, context)
    content = messages.build_email(
        message_id=message_id,
        notice_id=notice["id"],
        sender=sender,
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
        messages.sha256_hex(content),
        rendered,
    )


def _verify_grouped(
    content: bytes, kind: str, language: str, context: dict[str, Any], **envelope: Any
) -> None:
    """Tests only (``slots.VERIFY``): a grouped e-mail is the one rendered and built directly."""
    direct = render(kind, language, context)
    expected = messages.build_email(
        **envelope,
        subject=direct.subject,
        text=direct.text,
        html=direct.html,
        attachments=(),
    )
    assert content == expected, f"grouped e-mail of {kind} differs:\n{content!r}\n{expected!r}"


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
    renderer: Renderer,
) -> _Draft:
    message_id = new_id("msg")
    url = messages.receipt_url(message_id) if requires_receipt else None
    rendered: Rendered = renderer(
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
        messages.sha256_hex(content),
        rendered,
    )


#: The columns of a new notice and of a new outbox message that only later events fill:
#: named, so their bulk insert takes every column as given (bulk._records' fast path).
_NOTICE_LATER: dict[str, Any] = dict.fromkeys(("received_at", "receipt_method"))
_MESSAGE_LATER: dict[str, Any] = dict.fromkeys(
    ("lease_until", "locked_by", "last_error", "sent_at", "accepted_at", "acceptance")
)


def _message_row(notice: Mapping[str, Any], d: _Draft, now: datetime) -> dict[str, Any]:
    return {
        "id": d.id,
        "notice": notice["id"],
        "client_id": notice["client_id"],
        "channel": d.channel,
        "recipient": d.recipient,
        "endpoint_id": d.endpoint_id,
        "language": d.language,
        "subject": d.subject,
        "content": d.content.decode("utf-8"),
        "content_type": d.content_type,
        "sha256": d.sha256,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        **_MESSAGE_LATER,
    }


def _messages_of(p: PreparedNotice) -> list[dict[str, str]]:
    return [{"id": d.id, "channel": d.channel, "sha256": d.sha256} for d in p.drafts]


async def _write(
    prepared: Sequence[PreparedNotice], *, now: datetime, actor: str, single: bool
) -> list[NoticeRef]:
    """Insert notices and messages in bulk and append their trail evidence.

    ``single`` (one notice): one ``notice.queued`` event for its client. Otherwise one
    ``notice.queued_batch`` event per :data:`BATCH` notices, listing each notice with its
    messages' SHA-256 (of the exact bytes stored in ``outbox_message.content`` and sent).
    """
    await insert_rows(Notice, [p.notice for p in prepared])
    await insert_rows(
        OutboxMessage, [_message_row(p.notice, d, now) for p in prepared for d in p.drafts]
    )
    if single:
        (p,) = prepared
        notice = p.notice
        await trail.append(
            now=now,
            actor=actor,
            action="notice.queued",
            subject_type="notice",
            subject_id=notice["id"],
            client_id=notice["client_id"],
            after=dict(p.facts),
            details={
                "notice_id": notice["id"],
                "kind": notice["kind"],
                "about": {"type": notice["subject_type"], "id": notice["subject_id"]},
                "message_count": len(p.drafts),
                "messages": _messages_of(p),
                "requires_receipt": notice["requires_receipt"],
            },
        )
    else:
        for chunk in _chunks(prepared):
            await trail.append(**_batch_event(chunk, now=now, actor=actor))
    return [
        NoticeRef(
            p.notice["id"],
            [d.id for d in p.drafts],
            len({(d.channel, d.recipient) for d in p.drafts}),
        )
        for p in prepared
    ]


def _batch_event(chunk: Sequence[PreparedNotice], *, now: datetime, actor: str) -> dict[str, Any]:
    """``notice.queued_batch``: what is common to the notices once, then each notice's ids and
    the SHA-256 of each of its messages."""

    def common(p: PreparedNotice) -> dict[str, Any]:
        n = p.notice
        return {
            "kind": n["kind"],
            "about": {"type": n["subject_type"], "id": n["subject_id"]},
            "requires_receipt": n["requires_receipt"],
        }

    shared = common(chunk[0])
    uniform = all(common(p) == shared for p in chunk)
    clients = {p.notice["client_id"] for p in chunk}
    notices = [
        {
            "notice_id": p.notice["id"],
            "client_id": p.notice["client_id"],
            **({} if uniform else common(p)),
            "messages": _messages_of(p),
        }
        for p in chunk
    ]
    return {
        "now": now,
        "actor": actor,
        "action": "notice.queued_batch",
        "subject_type": "notice_batch",
        "subject_id": chunk[0].notice["id"],
        "client_id": next(iter(clients)) if len(clients) == 1 else None,
        # canonical_json([p.facts ...]), written from the notices' canonical facts texts
        "after": trail.CanonicalJSON("[" + ",".join(p.notice["facts_json"] for p in chunk) + "]"),
        "details": {
            "count": len(chunk),
            "message_count": sum(len(p.drafts) for p in chunk),
            **(shared if uniform else {}),
            "notices": notices,
        },
    }


def _check_request(request: NoticeRequest) -> None:
    unknown = [c for c in request.channels if c not in CHANNELS]
    if unknown:
        raise ValidationProblem(
            f"unknown channel(s) {unknown}", field="channels", rule="known-channel"
        )
    if not (has_template(request.kind, "fr") or has_template(request.kind, "en")):
        raise LookupError(f"no template for notice kind {request.kind!r}")


def _no_recipient(client_id: str, channels: Sequence[str]) -> ValidationProblem:
    return ValidationProblem(
        f"client {client_id} has no recipient for channels {list(channels)}: add a contact "
        "that receives notices or a webhook endpoint",
        field="client_id",
        rule="no-recipient",
    )


@dataclass(frozen=True)
class _Recipients:
    """Every client's notice contacts and active webhook endpoints, read in bulk."""

    clients: dict[str, dict[str, Any]]
    contacts: dict[str, list[dict[str, Any]]]
    endpoints: dict[str, list[str]]

    def has_recipient(self, client_id: str, channels: Sequence[str]) -> bool:
        return bool(
            ("email" in channels and self.contacts.get(client_id))
            or ("webhook" in channels and self.endpoints.get(client_id))
        )


async def _recipients(requests: Sequence[NoticeRequest]) -> _Recipients:
    """Three queries for any number of clients (chunked by 5,000): clients, contacts, hooks."""
    ids = list(dict.fromkeys(r.client_id for r in requests))
    clients = await contracts.clients_by_id(ids)
    for client_id in ids:
        if client_id not in clients:
            raise NotFound(f"client {client_id} not found", field="client_id")
    by_email = list(dict.fromkeys(r.client_id for r in requests if "email" in r.channels))
    by_hook = list(dict.fromkeys(r.client_id for r in requests if "webhook" in r.channels))
    return await _reachable(clients, by_email, by_hook)


async def _reachable(
    clients: dict[str, dict[str, Any]], by_email: Sequence[str], by_hook: Sequence[str]
) -> _Recipients:
    """The notice contacts of the ``by_email`` clients and the active webhook endpoints of the
    ``by_hook`` ones."""
    contacts = await contracts.notice_contacts_by_client(by_email) if by_email else {}
    endpoints: dict[str, list[str]] = {}
    for chunk in _chunks(by_hook, 5000):
        for row in await (
            WebhookEndpoint.select(WebhookEndpoint.id, WebhookEndpoint.client)
            .where(where_in(WebhookEndpoint.client, chunk) & WebhookEndpoint.active.eq(True))
            .order_by(WebhookEndpoint.id)
        ):
            endpoints.setdefault(row["client"], []).append(row["id"])
    return _Recipients(clients, contacts, endpoints)


async def clients_without_recipient(
    client_ids: Sequence[str], channels: Sequence[str] = CHANNELS
) -> list[str]:
    """The clients a notice on ``channels`` would reach nobody at (unknown clients included):
    lets a fan-out refuse up front what ``queue_notices`` would refuse later."""
    ids = list(dict.fromkeys(client_ids))
    known = await contracts.clients_by_id(ids)
    present = [c for c in ids if c in known]
    found = await _reachable(
        known,
        present if "email" in channels else [],
        present if "webhook" in channels else [],
    )
    return [c for c in ids if c not in known or not found.has_recipient(c, channels)]


def _prepare_one(
    request: NoticeRequest,
    recipients: _Recipients,
    *,
    now: datetime,
    actor: str,
    sender: str,
    renderer: Renderer = render,
) -> PreparedNotice:
    client = recipients.clients[request.client_id]
    channels = request.channels
    # stored canonical, so a batch's trail digest is computed from these texts (_batch_event)
    facts_json = trail.canonical_json(dict(request.facts))
    facts = json.loads(facts_json)  # what templates see: the facts as stored
    if slots.VERIFY:  # tests: string keys, so the stored text is the canonical form of facts
        assert facts_json == trail.canonical_json(facts), f"non-string keys in {request.kind}"
    notice = {
        "id": new_id("ntc"),
        "client_id": request.client_id,
        "kind": request.kind,
        "subject_type": request.subject_type,
        "subject_id": request.subject_id,
        "facts_json": facts_json,
        "requires_receipt": request.requires_receipt,
        "dedupe_key": None,
        "created_at": now,
        "created_by": actor,
        **_NOTICE_LATER,
    }
    public = _notice_public({**notice, "facts": facts})
    client_view = {"id": client["id"], "legal_name": client["legal_name"]}
    client_language = _language(client.get("language"), "fr")
    drafts: list[_Draft] = []
    if "email" in channels:
        for contact in recipients.contacts.get(request.client_id, ()):
            drafts.append(
                _email_draft(
                    notice=public,
                    facts=facts,
                    facts_text=facts_json,
                    client=client_view,
                    kind=request.kind,
                    name=contact["name"],
                    email=contact["email"],
                    language=_language(contact.get("language"), client_language),
                    requires_receipt=request.requires_receipt,
                    attachments=request.attachments,
                    now=now,
                    sender=sender,
                    renderer=renderer,
                )
            )
    if "webhook" in channels:
        for endpoint_id in recipients.endpoints.get(request.client_id, ()):
            drafts.append(
                _webhook_draft(
                    notice=public,
                    facts=facts,
                    client=client_view,
                    kind=request.kind,
                    endpoint_id=endpoint_id,
                    language=client_language,
                    requires_receipt=request.requires_receipt,
                    attachments=request.attachments,
                    now=now,
                    renderer=renderer,
                )
            )
    if not drafts:
        raise _no_recipient(request.client_id, channels)
    return PreparedNotice(notice, drafts, facts)


def _renderer(requests: Sequence[NoticeRequest]) -> Renderer:
    """Many notices render through groups (``slots.py``); one renders directly."""
    return SlotRenderer() if len(requests) > 1 else render


async def _plan(requests: Sequence[NoticeRequest]) -> _Recipients:
    """Every refusal before anything is rendered: channels, templates, clients, recipients."""
    for request in requests:
        _check_request(request)
    recipients = await _recipients(requests)
    for request in requests:
        if not recipients.has_recipient(request.client_id, request.channels):
            raise _no_recipient(request.client_id, request.channels)
    return recipients


async def prepare_notices(
    requests: Sequence[NoticeRequest], *, now: datetime, actor: str
) -> list[PreparedNotice]:
    """Every notice :func:`queue_notices` would write, rendered and hashed but not written;
    the same refusals (``no-recipient`` and the rest) before anything is rendered."""
    if not requests:
        return []
    recipients = await _plan(requests)
    sender = get_settings().smtp_from
    renderer = _renderer(requests)
    return [
        _prepare_one(r, recipients, now=now, actor=actor, sender=sender, renderer=renderer)
        for r in requests
    ]


async def write_notices(
    prepared: Sequence[PreparedNotice], *, now: datetime, actor: str
) -> list[NoticeRef]:
    """Write prepared notices (call inside ``db.transaction()``): rows in bulk, and one
    ``notice.queued_batch`` event per :data:`BATCH` notices (``notice.queued`` for one)."""
    refs: list[NoticeRef] = []
    for chunk in _chunks(prepared):
        refs.extend(await _write(chunk, now=now, actor=actor, single=len(prepared) == 1))
    return refs


async def queue_notices(
    requests: Sequence[NoticeRequest], *, now: datetime, actor: str
) -> list[NoticeRef]:
    """Render and write many notices at once; call inside ``db.transaction()``.

    Per notice exactly what :func:`queue_notice` does (same rows, same bytes and SHA-256, the
    same ``no-recipient`` refusal, which refuses the whole call before anything is written),
    with one query each for the clients, their contacts and their webhook endpoints, grouped
    rendering (``slots.py``), bulk inserts and one trail event per :data:`BATCH` notices.
    Returns the refs in the requests' order.
    """
    if not requests:
        return []
    recipients = await _plan(requests)  # every refusal before anything is rendered
    sender = get_settings().smtp_from
    renderer = _renderer(requests)
    refs: list[NoticeRef] = []
    for batch in _chunks(requests):  # render and write a batch at a time: bounded memory
        prepared = [
            _prepare_one(r, recipients, now=now, actor=actor, sender=sender, renderer=renderer)
            for r in batch
        ]
        refs.extend(await _write(prepared, now=now, actor=actor, single=len(requests) == 1))
    return refs


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
    """Render and write one notice and its outbox messages; call inside ``db.transaction()``.

    The one-notice form of :func:`queue_notices` (one code path).
    """
    request = NoticeRequest(
        client_id=client_id,
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        facts=facts,
        channels=tuple(channels),
        attachments=tuple(attachments),
        requires_receipt=requires_receipt,
    )
    return (await queue_notices([request], now=now, actor=actor))[0]


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
    facts_json = trail.canonical_json(dict(facts))
    facts = json.loads(facts_json)
    notice = {
        "id": new_id("ntc"),
        "client_id": None,  # never in a client's own notice list or feed
        "kind": kind,
        "subject_type": "dpo_alert",
        "subject_id": dedupe_key[:80],
        "facts_json": facts_json,
        "requires_receipt": False,
        "dedupe_key": dedupe_key,
        "created_at": now,
        "created_by": "system",
    }
    public = _notice_public(notice)
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
        notice_id=notice["id"],
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
        messages.sha256_hex(content),
    )
    prepared = PreparedNotice(notice, [draft], facts)
    refs = await _write([prepared], now=now, actor="system", single=True)
    return refs[0].notice_id


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
    check_input_date(received_at, "received_at")
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
    request = NoticeRequest(
        client_id=client_id,
        kind="manual",
        subject_type=data.subject_type,
        subject_id=data.subject_id or "-",
        facts=_manual_facts(data),
        channels=tuple(data.channels),
        attachments=(),
        requires_receipt=data.requires_receipt,
    )
    if dry_run:
        (prepared,) = await prepare_notices([request], now=now, actor=actor)
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
                    "sha256": d.sha256,
                }
                for d in prepared.drafts
            ],
        }
    async with db.transaction():
        (ref,) = await queue_notices([request], now=now, actor=actor)
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
