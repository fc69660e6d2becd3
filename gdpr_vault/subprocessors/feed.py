"""Renderings of the list for people and feed readers: a client's Atom feed of changes and the
optional public HTML page."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from gdpr_vault.atom import AtomEntry, render_feed
from gdpr_vault.settings import get_settings
from gdpr_vault.subprocessors import service
from gdpr_vault.timeutil import utc_iso

_TITLES = {
    "add": "New sub-processor",
    "replace": "Replacement of a sub-processor",
    "remove": "Removal of a sub-processor",
    "relocate": "Change of location of a sub-processor",
    "activities": "Change of a sub-processor's activities",
}


async def client_changes_feed(client_id: str, now: datetime) -> bytes:
    """Atom 1.0 (RFC 4287): one entry per change notified to the client, with its own state."""
    entries = await service.client_feed_entries(client_id)
    settings = get_settings()
    base = settings.public_base_url.rstrip("/")
    items = []
    for entry_data in entries:
        row, change, facts = entry_data["row"], entry_data["change"], entry_data["facts"]
        name = facts.get("subprocessor", {}).get("legal_name", change["subprocessor"])
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
        items.append(
            AtomEntry(
                id=f"urn:gdpr-vault:subprocessor-change:{change['id']}:{client_id}",
                title=f"{_TITLES.get(change['kind'], change['kind'])}: {name}",
                updated=row["updated_at"],
                published=row["notified_at"],
                category=change["kind"],
                href=f"{base}/api/v1/clients/{client_id}/subprocessor-changes/{change['id']}",
                summary="; ".join(parts),
            )
        )
    return render_feed(
        feed_id=f"urn:gdpr-vault:client:{client_id}:subprocessor-changes",
        title=f"{settings.processor_name}: sub-processor changes",
        author=settings.processor_name,
        self_href=f"{base}/api/v1/clients/{client_id}/subprocessor-changes/feed.atom",
        updated=max((e["row"]["updated_at"] for e in entries), default=now),
        entries=items,
    )


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
