"""An Atom 1.0 feed (RFC 4287) of the notices addressed to one client."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from gdpr_vault.contracts import service as contracts
from gdpr_vault.notifications.service import notice_view
from gdpr_vault.notifications.tables import Notice
from gdpr_vault.settings import get_settings
from gdpr_vault.timeutil import utc_iso

ATOM = "http://www.w3.org/2005/Atom"
FEED_SIZE = 100


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


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
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", f"urn:gdpr-vault:client:{client_id}:notices")
    _sub(feed, "title", f"{settings.processor_name}: notices to {client['legal_name']}")
    updated = max((r["received_at"] or r["created_at"] for r in rows), default=None)
    _sub(feed, "updated", utc_iso(updated or now))
    author = _sub(feed, "author")
    _sub(author, "name", settings.processor_name)
    _sub(
        feed,
        "link",
        rel="self",
        type="application/atom+xml",
        href=f"{base}/api/v1/clients/{client_id}/notices/feed.atom",
    )
    _sub(feed, "generator", "gdpr-vault")
    for row, notice in zip(rows, notices, strict=True):
        entry = _sub(feed, "entry")
        _sub(entry, "id", f"urn:gdpr-vault:notice:{notice['id']}")
        _sub(entry, "title", notice["subject"] or notice["kind"])
        _sub(entry, "updated", utc_iso(row["received_at"] or row["created_at"]))
        _sub(entry, "published", utc_iso(row["created_at"]))
        _sub(entry, "category", term=notice["kind"])
        _sub(
            entry,
            "link",
            rel="alternate",
            type="application/json",
            href=f"{base}/api/v1/clients/{client_id}/notices/{notice['id']}",
        )
        summary = (
            f"{notice['kind']} about {notice['subject_type']} {notice['subject_id']}: "
            f"{notice['status']}"
            + (f", received {notice['received_at']}" if notice["received_at"] else "")
        )
        _sub(entry, "summary", summary, type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
