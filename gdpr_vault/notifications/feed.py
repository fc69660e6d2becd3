"""An Atom 1.0 feed (RFC 4287) of the notices addressed to one client."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gdpr_vault.atom import AtomEntry, render_feed
from gdpr_vault.contracts import service as contracts
from gdpr_vault.notifications.service import notice_view
from gdpr_vault.notifications.tables import Notice
from gdpr_vault.settings import get_settings

FEED_SIZE = 100


async def client_feed(client_id: str, now: datetime) -> bytes:
    client = await contracts.get_client(client_id)
    settings = get_settings()
    base = settings.public_base_url.rstrip("/")
    rows = await (
        Notice.select()
        .where(Notice.client_id == client_id)
        .order_by(Notice.id, ascending=False)
        .limit(FEED_SIZE)
    )
    notices: list[dict[str, Any]] = [await notice_view(r, now=now, detail=False) for r in rows]
    entries = [
        AtomEntry(
            id=f"urn:gdpr-vault:notice:{notice['id']}",
            title=notice["subject"] or notice["kind"],
            updated=row["received_at"] or row["created_at"],
            published=row["created_at"],
            category=notice["kind"],
            href=f"{base}/api/v1/clients/{client_id}/notices/{notice['id']}",
            summary=(
                f"{notice['kind']} about {notice['subject_type']} {notice['subject_id']}: "
                f"{notice['status']}"
                + (f", received {notice['received_at']}" if notice["received_at"] else "")
            ),
        )
        for row, notice in zip(rows, notices, strict=True)
    ]
    return render_feed(
        feed_id=f"urn:gdpr-vault:client:{client_id}:notices",
        title=f"{settings.processor_name}: notices to {client['legal_name']}",
        author=settings.processor_name,
        self_href=f"{base}/api/v1/clients/{client_id}/notices/feed.atom",
        updated=max((e.updated for e in entries), default=now),
        entries=entries,
    )
