"""One Atom 1.0 writer (RFC 4287) for every per-client feed the product publishes.

Clients subscribe to notices and to sub-processor changes with any feed reader; both feeds share
this writer so their ids, links and dates follow the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from xml.etree import ElementTree as ET

from gdpr_vault.timeutil import utc_iso

ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class AtomEntry:
    id: str
    title: str
    updated: datetime
    published: datetime | None
    category: str
    href: str
    summary: str


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def render_feed(
    *,
    feed_id: str,
    title: str,
    author: str,
    self_href: str,
    updated: datetime,
    entries: Iterable[AtomEntry],
) -> bytes:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", feed_id)
    _sub(feed, "title", title)
    _sub(feed, "updated", utc_iso(updated))
    _sub(_sub(feed, "author"), "name", author)
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_href)
    _sub(feed, "generator", "gdpr-vault")
    for item in entries:
        entry = _sub(feed, "entry")
        _sub(entry, "id", item.id)
        _sub(entry, "title", item.title)
        _sub(entry, "updated", utc_iso(item.updated))
        if item.published is not None:
            _sub(entry, "published", utc_iso(item.published))
        _sub(entry, "category", term=item.category)
        _sub(entry, "link", rel="alternate", type="application/json", href=item.href)
        _sub(entry, "summary", item.summary, type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
