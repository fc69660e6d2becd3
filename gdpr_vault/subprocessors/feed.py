"""Renderings of the list for people and feed readers: a client's Atom feed of changes and the
optional public HTML page."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from xml.etree import ElementTree as ET

from gdpr_vault.settings import get_settings
from gdpr_vault.subprocessors import service
from gdpr_vault.timeutil import utc_iso

ATOM = "http://www.w3.org/2005/Atom"

_TITLES = {
    "add": "New sub-processor",
    "replace": "Replacement of a sub-processor",
    "remove": "Removal of a sub-processor",
    "relocate": "Change of location of a sub-processor",
    "activities": "Change of a sub-processor's activities",
}


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


async def client_changes_feed(client_id: str, now: datetime) -> bytes:
    """Atom 1.0 (RFC 4287): one entry per change notified to the client, with its own state."""
    entries = await service.client_feed_entries(client_id)
    settings = get_settings()
    base = settings.public_base_url.rstrip("/")
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", f"urn:gdpr-vault:client:{client_id}:subprocessor-changes")
    _sub(feed, "title", f"{settings.processor_name}: sub-processor changes")
    updated = max((e["row"]["updated_at"] for e in entries), default=None)
    _sub(feed, "updated", utc_iso(updated or now))
    author = _sub(feed, "author")
    _sub(author, "name", settings.processor_name)
    _sub(
        feed,
        "link",
        rel="self",
        type="application/atom+xml",
        href=f"{base}/api/v1/clients/{client_id}/subprocessor-changes/feed.atom",
    )
    _sub(feed, "generator", "gdpr-vault")
    for entry_data in entries:
        row, change, facts = entry_data["row"], entry_data["change"], entry_data["facts"]
        name = facts.get("subprocessor", {}).get("legal_name", change["subprocessor"])
        entry = _sub(feed, "entry")
        _sub(entry, "id", f"urn:gdpr-vault:subprocessor-change:{change['id']}:{client_id}")
        _sub(entry, "title", f"{_TITLES.get(change['kind'], change['kind'])}: {name}")
        _sub(entry, "updated", utc_iso(row["updated_at"]))
        _sub(entry, "published", utc_iso(row["notified_at"]))
        _sub(entry, "category", term=change["kind"])
        _sub(
            entry,
            "link",
            rel="alternate",
            type="application/json",
            href=f"{base}/api/v1/clients/{client_id}/subprocessor-changes/{change['id']}",
        )
        parts = [
            f"state: {row['state']}",
            f"intended effective date: {change['effective_date'].isoformat()}",
            f"change status: {change['status']}",
        ]
        if row["window_display"]:
            parts.append(f"objection window ends {row['window_display']}")
        else:
            parts.append("objection window starts at receipt of the notice")
        if row["resolution"]:
            parts.append(f"resolution: {row['resolution']}")
        if row["activated_at"]:
            parts.append(f"active since {utc_iso(row['activated_at'])}")
        _sub(entry, "summary", "; ".join(parts), type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def public_html(items: list[dict[str, Any]], processor_name: str) -> str:
    rows = "\n".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            escape(i["legal_name"]),
            escape(i["country"]),
            escape(", ".join(i["hosting_locations"]) or "-"),
            escape("; ".join(i["activities"]) or "-"),
            escape(", ".join(i["data_categories"]) or "-"),
            escape(i["transfer_mechanism"] or "-"),
        )
        for i in items
    )
    title = escape(f"{processor_name}: sub-processors")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body>\n<h1>{title}</h1>\n"
        "<p>The sub-processors currently engaged (GDPR Art. 28(2)).</p>\n"
        "<table><thead><tr><th>Sub-processor</th><th>Country</th><th>Hosting</th>"
        "<th>Activities</th><th>Data</th><th>Transfer mechanism</th></tr></thead><tbody>\n"
        f"{rows}\n</tbody></table>\n"
        '<p>Also as JSON: <a href="/api/v1/public/subprocessors">/api/v1/public/subprocessors</a>'
        "</p>\n</body></html>\n"
    )
