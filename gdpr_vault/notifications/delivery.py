"""Delivering the outbox: claim with a lease, send outside any transaction, record in a second
transaction that only the lease holder can commit.

At-least-once: a worker that dies after sending and before recording leaves the message
``sending``; once its lease runs out another worker sends the same bytes again under the same
message id (the webhook-id / Message-ID receivers dedupe on). Exactly-once recording: the
``sent`` update is conditional on ``status = 'sending' AND locked_by = me``, so at most one
worker's result lands, and its trail event with it. See docs/adr/0002-job-queue.md.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

import httpx
import structlog

from gdpr_vault import db
from gdpr_vault.evidence import trail
from gdpr_vault.notifications import messages
from gdpr_vault.notifications.tables import OutboxMessage, WebhookEndpoint
from gdpr_vault.settings import Settings
from gdpr_vault.timeutil import Clock, utc_iso

log = structlog.get_logger("gdpr_vault.notifications")

_CLAIM_COLUMNS = (
    "id, notice, client_id, channel, recipient, endpoint_id, content, sha256, attempts, locked_by"
)
_PG_CLAIM = f"""
UPDATE outbox_message SET status = 'sending', attempts = attempts + 1,
       lease_until = {{}}, locked_by = {{}}
WHERE id IN (
    SELECT id FROM outbox_message
    WHERE (status = 'pending' AND next_attempt_at <= {{}})
       OR (status = 'sending' AND lease_until < {{}})
    ORDER BY next_attempt_at, id
    LIMIT {{}}
    FOR UPDATE SKIP LOCKED
)
RETURNING {_CLAIM_COLUMNS}
"""


@dataclass(frozen=True)
class Outcome:
    message: dict[str, Any]
    ok: bool
    acceptance: str | None = None
    error: str | None = None
    permanent: bool = False


def backoff(attempts: int, settings: Settings) -> timedelta:
    seconds = settings.notify_backoff_base_seconds * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(settings.notify_backoff_max_seconds, seconds))


async def claim_batch(
    worker_id: str, now: datetime, *, limit: int, lease_seconds: int
) -> list[dict[str, Any]]:
    """Take up to ``limit`` due messages (or ones whose sender's lease ran out) for this worker."""
    lease_until = now + timedelta(seconds=lease_seconds)
    if db.is_postgres():
        rows = await OutboxMessage.raw(_PG_CLAIM, lease_until, worker_id, now, now, limit)
        return sorted(rows, key=lambda r: r["id"])
    async with db.transaction():  # SQLite: IMMEDIATE, one claimer at a time
        due = (OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now)
        expired = (OutboxMessage.status == "sending") & (OutboxMessage.lease_until < now)
        ids = [
            r["id"]
            for r in await OutboxMessage.select(OutboxMessage.id)
            .where(due | expired)
            .order_by(OutboxMessage.next_attempt_at)
            .order_by(OutboxMessage.id)
            .limit(limit)
        ]
        if not ids:
            return []
        await OutboxMessage.update(
            {
                OutboxMessage.status: "sending",
                OutboxMessage.attempts: OutboxMessage.attempts + 1,
                OutboxMessage.lease_until: lease_until,
                OutboxMessage.locked_by: worker_id,
            }
        ).where(OutboxMessage.id.is_in(ids))
        columns = [getattr(OutboxMessage, c.strip()) for c in _CLAIM_COLUMNS.split(",")]
        return list(
            await OutboxMessage.select(*columns)
            .where(OutboxMessage.id.is_in(ids))
            .order_by(OutboxMessage.id)
        )


# --- e-mail ---------------------------------------------------------------------------------


def _smtp_send(settings: Settings, sender: str, recipient: str, content: bytes) -> str:
    """One SMTP transaction; returns the server's final reply to DATA. Runs in a thread."""
    timeout = settings.smtp_timeout_seconds
    if settings.smtp_security == "ssl":
        server: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host,
            settings.smtp_port,
            timeout=timeout,
            context=ssl.create_default_context(),
        )
    else:
        server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    try:
        server.ehlo()
        if settings.smtp_security == "starttls":
            server.starttls(context=ssl.create_default_context())
            server.ehlo()
        if settings.smtp_username:
            server.login(settings.smtp_username, settings.smtp_password)
        code, reply = server.mail(sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        code, reply = server.rcpt(recipient)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        code, reply = server.data(content)
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        return f"{code} {reply.decode('utf-8', 'replace')}"
    finally:
        try:
            server.quit()
        except smtplib.SMTPException:
            server.close()


def _smtp_code(exc: Exception) -> int | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return codes[0] if codes else None
    return getattr(exc, "smtp_code", None)


async def _send_email(message: dict[str, Any], settings: Settings) -> Outcome:
    sender = parseaddr(settings.smtp_from)[1] or settings.smtp_from
    try:
        reply = await asyncio.to_thread(
            _smtp_send, settings, sender, message["recipient"], message["content"].encode("utf-8")
        )
    except (smtplib.SMTPException, OSError) as exc:
        code = _smtp_code(exc)
        permanent = code is not None and 500 <= code < 600
        return Outcome(
            message, False, error=f"{type(exc).__name__}: {exc}"[:2000], permanent=permanent
        )
    return Outcome(message, True, acceptance=reply[:2000])


# --- webhooks -------------------------------------------------------------------------------


async def _send_webhook(
    message: dict[str, Any],
    endpoint: dict[str, Any] | None,
    http: httpx.AsyncClient,
    now: datetime,
) -> Outcome:
    if endpoint is None or not endpoint["active"]:
        return Outcome(message, False, error="webhook endpoint removed or inactive", permanent=True)
    live = [endpoint["secret"]]
    until = endpoint["previous_secret_until"]
    if endpoint["previous_secret"] and until is not None and until > now:
        live.append(endpoint["previous_secret"])
    body = message["content"].encode("utf-8")
    headers = messages.webhook_headers(live, message["id"], int(now.timestamp()), body)
    try:
        response = await http.post(endpoint["url"], content=body, headers=headers)
    except httpx.HTTPError as exc:
        return Outcome(message, False, error=f"{type(exc).__name__}: {exc}"[:2000])
    if 200 <= response.status_code < 300:
        return Outcome(message, True, acceptance=f"HTTP {response.status_code}")
    return Outcome(message, False, error=f"HTTP {response.status_code}: {response.text[:500]}")


async def send_claimed(
    claimed: Sequence[dict[str, Any]], settings: Settings, now: datetime
) -> list[Outcome]:
    """Send claimed messages concurrently; never raises for a delivery failure."""
    endpoint_ids = sorted({m["endpoint_id"] for m in claimed if m["channel"] == "webhook"})
    endpoints: dict[str, dict[str, Any]] = {}
    if endpoint_ids:
        for row in await WebhookEndpoint.select().where(WebhookEndpoint.id.is_in(endpoint_ids)):
            endpoints[row["id"]] = row
    gate = asyncio.Semaphore(max(1, settings.notify_concurrency))
    http: httpx.AsyncClient | None = None
    if endpoint_ids:
        http = httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=max(1, settings.notify_concurrency)),
        )

    async def one(message: dict[str, Any]) -> Outcome:
        async with gate:
            try:
                if message["channel"] == "email":
                    return await _send_email(message, settings)
                assert http is not None
                return await _send_webhook(
                    message, endpoints.get(message["endpoint_id"]), http, now
                )
            except Exception as exc:  # one bad message must not sink the batch
                return Outcome(message, False, error=f"{type(exc).__name__}: {exc}"[:2000])

    try:
        return list(await asyncio.gather(*(one(m) for m in claimed)))
    finally:
        if http is not None:
            await http.aclose()


async def record_outcomes(
    worker_id: str,
    outcomes: Sequence[Outcome],
    *,
    now: datetime,
    accepted_at: datetime,
    settings: Settings,
) -> int:
    """Second transaction: only the lease holder's result lands; returns how many were sent."""
    landed_ids: set[str] = set()
    async with db.transaction():
        by_acceptance: dict[str | None, list[str]] = {}
        for outcome in outcomes:
            if outcome.ok:
                by_acceptance.setdefault(outcome.acceptance, []).append(outcome.message["id"])
        for acceptance, ids in by_acceptance.items():
            rows = await (
                OutboxMessage.update(
                    {
                        OutboxMessage.status: "sent",
                        OutboxMessage.sent_at: now,
                        OutboxMessage.accepted_at: accepted_at,
                        OutboxMessage.acceptance: acceptance,
                        OutboxMessage.last_error: None,
                        OutboxMessage.lease_until: None,
                    }
                )
                .where(
                    OutboxMessage.id.is_in(ids)
                    & (OutboxMessage.status == "sending")
                    & (OutboxMessage.locked_by == worker_id)
                )
                .returning(OutboxMessage.id)
            )
            landed_ids.update(r["id"] for r in rows)
        # One trail event per client per recorded batch: which bytes, accepted how, when.
        per_client: dict[str | None, list[dict[str, Any]]] = {}
        for outcome in outcomes:
            m = outcome.message
            if m["id"] in landed_ids:
                per_client.setdefault(m["client_id"], []).append(
                    {
                        "notice_id": m["notice"],
                        "message_id": m["id"],
                        "channel": m["channel"],
                        "sha256": m["sha256"],
                        "attempts": m["attempts"],
                        "acceptance": outcome.acceptance,
                    }
                )
        for client_id, items in per_client.items():
            await trail.append(
                now=accepted_at,
                actor="worker",
                action="notice.messages.sent",
                subject_type="notice" if len(items) == 1 else "notice_batch",
                subject_id=items[0]["notice_id"],
                client_id=client_id,
                details={"sent_at": utc_iso(now), "messages": items},
            )
        for outcome in outcomes:
            m = outcome.message
            mine = (
                (OutboxMessage.id == m["id"])
                & (OutboxMessage.status == "sending")
                & (OutboxMessage.locked_by == worker_id)
            )
            if outcome.ok:
                continue
            dead = outcome.permanent or m["attempts"] >= settings.notify_max_attempts
            landed = await (
                OutboxMessage.update(
                    {
                        OutboxMessage.status: "dead" if dead else "pending",
                        OutboxMessage.next_attempt_at: now + backoff(m["attempts"], settings),
                        OutboxMessage.last_error: outcome.error,
                        OutboxMessage.lease_until: None,
                        OutboxMessage.locked_by: None,
                    }
                )
                .where(mine)
                .returning(OutboxMessage.id)
            )
            if landed and dead:
                await trail.append(
                    now=now,
                    actor="worker",
                    action="notice.message.dead",
                    subject_type="notice",
                    subject_id=m["notice"],
                    client_id=m["client_id"],
                    details={
                        "notice_id": m["notice"],
                        "message_id": m["id"],
                        "channel": m["channel"],
                        "attempts": m["attempts"],
                        "permanent": outcome.permanent,
                    },
                )
            log.warning(
                "notice.delivery_failed",
                message_id=m["id"],
                channel=m["channel"],
                attempts=m["attempts"],
                dead=dead,
            )
    return len(landed_ids)


async def deliver_due(
    worker_id: str, now: datetime, settings: Settings, *, clock: Clock | None = None
) -> int:
    """Claim, send and record one batch; returns how many messages were claimed."""
    claimed = await claim_batch(
        worker_id,
        now,
        limit=settings.notify_batch_size,
        lease_seconds=settings.notify_lease_seconds,
    )
    if not claimed:
        return 0
    outcomes = await send_claimed(claimed, settings, now)
    await record_outcomes(
        worker_id, outcomes, now=now, accepted_at=clock() if clock else now, settings=settings
    )
    return len(claimed)
