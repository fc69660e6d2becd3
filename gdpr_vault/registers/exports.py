"""Streaming, signed exports of the register: JSON, CSV and a printable HTML page (Art. 30(3)-(4)).

Every export is a snapshot *as of* one instant (the request's ``as_of``, or the moment it was
generated): history rows are immutable, so reading page after page at that instant gives one
consistent state however long the download takes. Rows are read in pages (keyset on ids) and
written out as they come, so memory stays flat whatever the register's size.

The bytes are hashed on their way out; when the last one has gone, the SHA-256 is signed in
the product's one format (a DSSE envelope over an in-toto Statement, ``exporters.signing``)
with predicate type ``https://gdpr-vault.dev/register-export/v1``. The CLI writes the envelope
beside the file as ``<file>.dsse.json``; the API keeps it under ``VAR_DIR/register-exports/``
for the signature route, and records the export (id, format, digest) in the trail.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from exporters.signing import sign
from gdpr_vault import db
from gdpr_vault.errors import NotFound
from gdpr_vault.evidence import trail
from gdpr_vault.evidence.keys import service_signing_key
from gdpr_vault.ids import is_valid_id, new_id
from gdpr_vault.registers import rules, service
from gdpr_vault.registers.rules import SCHEMA_VERSION
from gdpr_vault.registers.tables import ActivityClient, ProcessingActivity
from gdpr_vault.settings import get_settings
from gdpr_vault.timeutil import utc_iso

PREDICATE_TYPE = "https://gdpr-vault.dev/register-export/v1"
FORMATS = ("json", "csv", "html")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv",  # Litestar adds "; charset=utf-8" to text/* types
    "html": "text/html",
}
BOM = "\ufeff"
BATCH = 500
CHUNK = 64 * 1024
CLIENT_PAGE = 50  # clients whose links (and CSV rows) are assembled at once

LIST_CELLS = (
    "processing_operations",
    "purposes",
    "data_subject_categories",
    "data_categories",
    "special_categories",
    "recipients_internal",
    "recipients_external",
    "hosting_countries",
    "security_measures",
)
CSV_COLUMNS = (
    "register_scope",
    "activity_id",
    "reference",
    "version",
    "valid_from",
    "status",
    "client_id",
    "client_legal_name",
    "client_registration",
    "client_contact",
    "client_dpo",
    "name",
    "description",
    "processing_operations",
    "purposes",
    "data_subject_categories",
    "data_categories",
    "special_categories",
    "recipients_internal",
    "recipients_external",
    "retention",
    "hosting_countries",
    "transfers",
    "security_measures",
    "availability_restoration",
    "security_testing",
    "subprocessors",
    "missing",
    "as_of",
    "generated_at",
)


@dataclass(frozen=True)
class ExportRequest:
    format: str
    client_id: str | None
    generated_at: datetime
    as_of: datetime | None = None
    export_id: str = ""

    @property
    def at(self) -> datetime:
        """The instant the register is read at."""
        return self.as_of or self.generated_at

    @property
    def scope(self) -> str:
        return f"client:{self.client_id}" if self.client_id else "processor"

    @property
    def filename(self) -> str:
        stamp = utc_iso(self.at).replace(":", "").replace("-", "")  # type: ignore[union-attr]
        return f"register-{self.client_id or 'processor'}-{stamp}.{self.format}"


def new_request(
    fmt: str, client_id: str | None, generated_at: datetime, as_of: datetime | None
) -> ExportRequest:
    return ExportRequest(fmt, client_id, generated_at, as_of, new_id("rex"))


# -- shared pieces ---------------------------------------------------------------------------


class _LRU(OrderedDict[str, Any]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)


async def _iter_activity_ids(at: datetime) -> AsyncIterator[list[str]]:
    """Every activity that existed at ``at``, a page of ids at a time."""
    cursor = ""
    while True:
        rows = await (
            ProcessingActivity.select(ProcessingActivity.id)
            .where((ProcessingActivity.id > cursor) & (ProcessingActivity.created_at <= at))
            .order_by(ProcessingActivity.id)
            .limit(BATCH)
        )
        if not rows:
            return
        yield [r["id"] for r in rows]
        cursor = rows[-1]["id"]


async def _links_for_clients(client_ids: list[str], at: datetime) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {c: [] for c in client_ids}
    if not client_ids:
        return out
    query = ActivityClient.select(ActivityClient.client, ActivityClient.activity).where(
        ActivityClient.client.is_in(client_ids)
        & (ActivityClient.added_at <= at)
        & (ActivityClient.removed_at.is_null() | (ActivityClient.removed_at > at))
    )
    for row in await query:
        out[row["client"]].append(row["activity"])
    for activities in out.values():
        activities.sort()
    return out


async def _controllers(request: ExportRequest) -> AsyncIterator[list[dict[str, Any]]]:
    if request.client_id:
        yield [await service.client_identity(request.client_id)]
        return
    async for page in service.iter_controllers(BATCH):
        yield page


async def _client_pages(request: ExportRequest) -> AsyncIterator[list[dict[str, Any]]]:
    """Controllers in pages of ``CLIENT_PAGE``: their links (about 50 each) are read a page at
    a time, which bounds memory whatever the number of clients."""
    async for page in _controllers(request):
        for start in range(0, len(page), CLIENT_PAGE):
            yield page[start : start + CLIENT_PAGE]


def _finding_text(finding: Mapping[str, Any]) -> str:
    return f"{finding['article']} — {finding['field']}: {finding['detail']} ({finding['severity']})"


def _identity_findings(controller: Mapping[str, Any]) -> list[dict[str, str]]:
    return [f.to_dict() for f in rules.controller_findings(controller)]


def _header(request: ExportRequest) -> dict[str, Any]:
    processor = service.processor_identity()
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "client-register" if request.client_id else "processor-register",
        "export_id": request.export_id,
        "client_id": request.client_id,
        "generated_at": utc_iso(request.generated_at),
        "as_of": utc_iso(request.at),
        "processor": processor,
        "processor_findings": [f.to_dict() for f in rules.processor_findings(processor)],
    }


class _Buffer:
    """Collect small strings and hand them out as ~64 KiB UTF-8 chunks."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def add(self, text: str) -> bytes | None:
        self.parts.append(text)
        self.size += len(text)
        if self.size >= CHUNK:
            return self.flush()
        return None

    def flush(self) -> bytes:
        data = "".join(self.parts).encode("utf-8")
        self.parts, self.size = [], 0
        return data


# -- JSON ------------------------------------------------------------------------------------


async def _activity_pages(request: ExportRequest) -> AsyncIterator[list[dict[str, Any]]]:
    facts = await service.subprocessor_facts(as_of=request.as_of)
    at = request.at
    if request.client_id:
        ids = await service.activity_ids_for_client(request.client_id, at)
        for start in range(0, len(ids), BATCH):
            yield await service.render_entries(
                ids[start : start + BATCH],
                at,
                client_id=request.client_id,
                with_history=False,
                facts=facts,
            )
        return
    async for ids in _iter_activity_ids(at):
        yield await service.render_entries(ids, at, facts=facts)


async def iter_json(request: ExportRequest) -> AsyncIterator[bytes]:
    """One JSON document (schema in docs/registers.md); entries and controllers streamed."""
    buffer = _Buffer()
    head = json.dumps(_header(request), ensure_ascii=False, indent=None)
    buffer.add(head[:-1] + ',\n"activities": [\n')
    first = True
    async for entries in _activity_pages(request):
        for entry in entries:
            text = ("" if first else ",\n") + json.dumps(entry, ensure_ascii=False)
            first = False
            if chunk := buffer.add(text):
                yield chunk
    buffer.add('\n],\n"controllers": [\n')
    first = True
    async for controllers in _client_pages(request):
        links = await _links_for_clients([c["client_id"] for c in controllers], request.at)
        for controller in controllers:
            item = {
                **controller,
                "activity_ids": links[controller["client_id"]],
                "findings": _identity_findings(controller),
            }
            text = ("" if first else ",\n") + json.dumps(item, ensure_ascii=False)
            first = False
            if chunk := buffer.add(text):
                yield chunk
    buffer.add("\n]}\n")
    yield buffer.flush()


# -- CSV -------------------------------------------------------------------------------------


ACTIVITY_COLUMNS = tuple(
    c
    for c in CSV_COLUMNS
    if c not in {"register_scope", "as_of", "generated_at"} and not c.startswith("client_")
)
CLIENT_COLUMNS = (
    "client_id",
    "client_legal_name",
    "client_registration",
    "client_contact",
    "client_dpo",
)


def _activity_cells(entry: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The activity's cells, split around the client columns (CSV_COLUMNS order)."""
    cells: dict[str, Any] = {
        "activity_id": entry["activity_id"],
        "reference": entry["reference"],
        "version": entry["version"],
        "valid_from": entry["valid_from"],
        "status": entry["status"],
        "name": entry["name"],
        "description": entry["description"],
        "retention": entry["retention"],
        "availability_restoration": entry["availability_restoration"],
        "security_testing": entry["security_testing"],
        "transfers": json.dumps(entry["transfers"], ensure_ascii=False),
        "subprocessors": json.dumps(
            [
                {
                    "subprocessor_id": s["subprocessor_id"],
                    "legal_name": s["legal_name"],
                    "country": s["country"],
                    "activities": s["activities"],
                    "client_id": s["client_id"],
                }
                for s in entry["subprocessors"]
            ],
            ensure_ascii=False,
        ),
        "missing": "\n".join(_finding_text(f) for f in entry["completeness"]["findings"]),
    }
    for name in LIST_CELLS:
        cells[name] = "\n".join(entry[name])
    head = tuple(cells[c] for c in ACTIVITY_COLUMNS[:5])
    tail = tuple(cells[c] for c in ACTIVITY_COLUMNS[5:])
    return head, tail


def _client_cells(controller: Mapping[str, Any] | None) -> tuple[str, ...]:
    if controller is None:
        return ("",) * len(CLIENT_COLUMNS)
    dpo = controller.get("dpo")
    return (
        controller["client_id"],
        controller["legal_name"],
        controller.get("registration") or "",
        controller.get("contact") or "",
        f"{dpo['name']} <{dpo['email']}>" if dpo else "",
    )


class _CsvWriter:
    """csv.writer into a string buffer handed out in ~64 KiB UTF-8 chunks."""

    def __init__(self, request: ExportRequest) -> None:
        self.out = io.StringIO()
        self.writer = csv.writer(self.out, lineterminator="\r\n")
        self.scope = (request.scope,)
        self.dates = (utc_iso(request.at), utc_iso(request.generated_at))

    def header(self) -> None:
        self.out.write(BOM)
        self.writer.writerow(CSV_COLUMNS)

    def row(self, cells: tuple[tuple[str, ...], tuple[str, ...]], client: tuple[str, ...]) -> None:
        self.writer.writerow(self.scope + cells[0] + client + cells[1] + self.dates)

    def ready(self) -> bool:
        return self.out.tell() >= CHUNK

    def take(self) -> bytes:
        data = self.out.getvalue().encode("utf-8")
        self.out.seek(0)
        self.out.truncate()
        return data


async def iter_csv(request: ExportRequest) -> AsyncIterator[bytes]:
    """One row per processing activity × client, UTF-8 with a BOM, RFC 4180 quoting.

    Rows come client by client (id order), assembled ``CLIENT_PAGE`` clients at a time;
    entries met for several clients (shared activities) stay in a small LRU cache. Activities
    carried out for nobody at ``as_of`` follow with empty client columns (processor export).
    """
    at = request.at
    facts = await service.subprocessor_facts(as_of=request.as_of)
    out = _CsvWriter(request)
    out.header()
    shared = _LRU(1024)  # activity id -> (version, content, cells without scoped links)
    async for controllers in _client_pages(request):
        client_ids = [c["client_id"] for c in controllers]
        links = await _links_for_clients(client_ids, at)
        uses: dict[str, int] = {}
        for ids in links.values():
            for activity_id in ids:
                uses[activity_id] = uses.get(activity_id, 0) + 1
        local: dict[str, Any] = {}
        missing = [a for a in uses if a not in shared]
        versions = await service.versions_as_of(missing, at)
        for activity_id, version in versions.items():
            content = json.loads(version["data_json"])
            entry = service.entry_out(activity_id, version, content, facts, with_history=False)
            value = (version, content, _activity_cells(entry))
            if uses[activity_id] > 1:
                shared.put(activity_id, value)
            else:
                local[activity_id] = value
        scoped = await _scoped_for(client_ids, at)
        for controller in controllers:
            client_id = controller["client_id"]
            client_cells = _client_cells(controller)
            for activity_id in links[client_id]:
                cached = local.get(activity_id) or shared.get(activity_id)
                if cached is None:
                    continue  # did not exist at ``at``
                version, content, cells = cached
                if content["status"] != "active":
                    continue
                own = scoped.get((activity_id, client_id))
                if own:
                    entry = service.entry_out(
                        activity_id,
                        version,
                        content,
                        facts,
                        scoped=own,
                        client_id=client_id,
                        with_history=False,
                    )
                    cells = _activity_cells(entry)
                out.row(cells, client_cells)
                if out.ready():
                    yield out.take()
    if not request.client_id:
        async for alone in _iter_unlinked(at):
            for entry in await service.render_entries(alone, at, with_history=False, facts=facts):
                if entry["status"] == "active":
                    entry["completeness"]["findings"] = [
                        f.to_dict() for f in rules.entry_findings(entry, facts, client_ids=[])
                    ]
                    out.row(_activity_cells(entry), _client_cells(None))
                    if out.ready():
                        yield out.take()
    yield out.take()


async def _scoped_for(
    client_ids: list[str], at: datetime
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Sub-processors activated for one of these clients only, by (activity, client)."""
    from gdpr_vault.registers.tables import ActivitySubprocessor as Link

    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    if not client_ids:
        return out
    rows = await Link.select(Link.activity, Link.client, Link.subprocessor, Link.activities).where(
        Link.client.is_in(client_ids)
        & (Link.added_at <= at)
        & (Link.removed_at.is_null() | (Link.removed_at > at))
    )
    for row in sorted(rows, key=lambda r: r["subprocessor"]):
        out.setdefault((row["activity"], row["client"]), []).append(
            {
                "subprocessor_id": row["subprocessor"],
                "client_id": row["client"],
                "activities": row["activities"],
            }
        )
    return out


async def _iter_unlinked(at: datetime) -> AsyncIterator[list[str]]:
    """Activities that existed at ``at`` but served no client then, a page at a time.

    Each page of ids asks which of them had a link, by id range (an index range scan with
    DISTINCT) rather than a NOT IN over every link, which PostgreSQL cannot hash when large.
    """
    async for ids in _iter_activity_ids(at):
        rows = await (
            ActivityClient.select(ActivityClient.activity)
            .where(
                (ActivityClient.activity >= ids[0])
                & (ActivityClient.activity <= ids[-1])
                & (ActivityClient.added_at <= at)
                & (ActivityClient.removed_at.is_null() | (ActivityClient.removed_at > at))
            )
            .distinct()
        )
        linked = {r["activity"] for r in rows}
        alone = [a for a in ids if a not in linked]
        if alone:
            yield alone


# -- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font:11pt/1.4 system-ui,sans-serif;margin:2em;color:#111}
h1{font-size:18pt}h2{font-size:14pt;border-bottom:1px solid #999;margin-top:2em}
h3{font-size:12pt;margin-bottom:.3em}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{border:1px solid #bbb;padding:.25em .4em;vertical-align:top;text-align:left}
th{background:#eee;width:28%}
.meta{color:#444}.error{color:#a00}.warning{color:#a60}
section.entry{page-break-inside:avoid}
@media print{body{margin:0}a{color:inherit;text-decoration:none}}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _list(values: list[str]) -> str:
    if not values:
        return '<span class="error">—</span>'
    return "<ul>" + "".join(f"<li>{_e(v)}</li>" for v in values) + "</ul>"


def _findings_html(findings: list[Mapping[str, Any]]) -> str:
    if not findings:
        return "<p>Complete: nothing missing.</p>"
    return (
        "<ul>"
        + "".join(
            f'<li class="{_e(f["severity"])}"><strong>{_e(f["article"])}</strong> — '
            f"{_e(f['field'])}: {_e(f['detail'])} ({_e(f['severity'])})</li>"
            for f in findings
        )
        + "</ul>"
    )


def _entry_html(entry: Mapping[str, Any], clients_note: str = "") -> str:
    transfers = "".join(
        f"<li>{_e(t['country'])} ({_e(rules.country_name(t['country']))})"
        f"{' — ' + _e(t['recipient']) if t['recipient'] else ''}: "
        f"{_e(rules.SAFEGUARDS.get(t['safeguard'] or '', 'NO SAFEGUARD'))}"
        f"{' — ' + _e(t['safeguard_reference']) if t['safeguard_reference'] else ''}</li>"
        for t in entry["transfers"]
    )
    subs = "".join(
        f"<li>{_e(s['legal_name'])} ({_e(s['country'])}; {_e(s['contact'])})"
        f"{' — ' + _e(s['activities']) if s['activities'] else ''}"
        f"{' — transfer: ' + _e(s['transfer_mechanism']) if s['transfer_mechanism'] else ''}"
        f"{' — for client ' + _e(s['client_id']) + ' only' if s['client_id'] else ''}</li>"
        for s in entry["subprocessors"]
    )
    rows = [
        (
            "Reference / version",
            f"{_e(entry['reference'])} — v{entry['version']} (since {_e(entry['valid_from'])})",
        ),
        ("Description", _e(entry["description"])),
        ("Categories of processing — Art. 30(2)(b)", _list(entry["processing_operations"])),
        ("Purposes — Art. 30(1)(b)", _list(entry["purposes"])),
        ("Categories of data subjects — Art. 30(1)(c)", _list(entry["data_subject_categories"])),
        ("Categories of personal data — Art. 30(1)(c)", _list(entry["data_categories"])),
        (
            "Special categories (Art. 9)",
            _list(entry["special_categories"]) if entry["special_categories"] else "none",
        ),
        ("Recipients, internal — Art. 30(1)(d)", _list(entry["recipients_internal"])),
        ("Recipients, external — Art. 30(1)(d)", _list(entry["recipients_external"])),
        ("Sub-processors — Art. 28(2), 28(4)", f"<ul>{subs}</ul>" if subs else "none"),
        ("Hosting countries", _e(", ".join(entry["hosting_countries"])) or "—"),
        (
            "Transfers outside the EEA — Art. 30(2)(c)",
            f"<ul>{transfers}</ul>" if transfers else "none",
        ),
        ("Retention / erasure — Art. 30(1)(f)", _e(entry["retention"]) or "—"),
        ("Security measures — Art. 30(2)(d), Art. 32(1)", _list(entry["security_measures"])),
        ("Restoring availability — Art. 32(1)(c)", _e(entry["availability_restoration"]) or "—"),
        ("Regular testing — Art. 32(1)(d)", _e(entry["security_testing"]) or "—"),
        ("Completeness", _findings_html(entry["completeness"]["findings"])),
    ]
    if clients_note:
        rows.insert(1, ("Carried out for", clients_note))
    body = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    return (
        f'<section class="entry" id="{_e(entry["activity_id"])}">'
        f"<h3>{_e(entry['name'])}</h3><table>{body}</table></section>\n"
    )


def _identity_html(title: str, block: Mapping[str, Any]) -> str:
    dpo = block.get("dpo")
    if isinstance(dpo, Mapping):
        dpo = f"{dpo.get('name')} <{dpo.get('email')}>"
    rows = [
        ("Name", block.get("legal_name") or block.get("name")),
        ("Registration", block.get("registration")),
        ("Contact", block.get("contact")),
        ("Data protection officer", dpo),
    ]
    body = "".join(
        f"<tr><th>{label}</th><td>{_e(value) or '—'}</td></tr>"
        for label, value in rows
        if value is not None or label != "Registration"
    )
    return f"<h3>{_e(title)}</h3><table>{body}</table>\n"


async def iter_html(request: ExportRequest) -> AsyncIterator[bytes]:
    """A printable page for the supervisory authority (Art. 30(4)), streamed section by
    section: identities, the entries (each shared entry once), and the controllers served."""
    head = _header(request)
    buffer = _Buffer()
    title = "Record of processing activities — " + (
        "controller " + request.client_id if request.client_id else "all controllers"
    )
    buffer.add(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_CSS}</style></head><body>"
        f"<h1>Record of processing activities (GDPR Art. 30(2), Art. 30(1) per contract)</h1>"
        f'<p class="meta">As of <strong>{_e(head["as_of"])}</strong> · generated '
        f"{_e(head['generated_at'])} · export {_e(request.export_id)} · schema "
        f"{SCHEMA_VERSION}. A signature (DSSE, SHA-256 of this file) accompanies it; check it "
        "with <code>gdpr-vault verify FILE</code>.</p>"
        "<h2>1. Identities — Art. 30(2)(a)</h2>"
        + _identity_html("Processor", head["processor"])
        + _findings_html(head["processor_findings"])
    )
    if request.client_id:
        controller = await service.client_identity(request.client_id)
        buffer.add(
            _identity_html("Controller", controller)
            + _findings_html(_identity_findings(controller))
        )
    buffer.add("<h2>2. Processing activities</h2>\n")
    count = 0
    async for entries in _activity_pages(request):
        if not request.client_id:
            served = await _linked_counts([e["activity_id"] for e in entries], request.at)
        for entry in entries:
            if entry["status"] != "active":
                continue
            count += 1
            note = ""
            if not request.client_id:
                note = f"{served.get(entry['activity_id'], 0)} controller(s), listed in part 3"
            if chunk := buffer.add(_entry_html(entry, note)):
                yield chunk
    if count == 0:
        buffer.add("<p>No processing activity recorded at this date.</p>")
    if not request.client_id:
        buffer.add(
            "<h2>3. Controllers the processor acts for — Art. 30(2)(a)</h2><table>"
            "<tr><th>Controller</th><th>Contact / DPO</th><th>Processing activities</th></tr>\n"
        )
        async for controllers in _client_pages(request):
            links = await _links_for_clients([c["client_id"] for c in controllers], request.at)
            refs = await _references(sorted({a for v in links.values() for a in v}), request.at)
            for c in controllers:
                dpo = c.get("dpo")
                contact = _e(c.get("contact") or "—") + (
                    f"<br>DPO: {_e(dpo['name'])} &lt;{_e(dpo['email'])}&gt;" if dpo else ""
                )
                acts = ", ".join(
                    f'<a href="#{_e(a)}">{_e(refs.get(a, a))}</a>'
                    for a in links[c["client_id"]]
                    if a in refs
                )
                row = (
                    f"<tr><td>{_e(c['legal_name'])}<br><small>{_e(c['client_id'])} "
                    f"{_e(c.get('registration') or '')}</small></td><td>{contact}</td>"
                    f"<td>{acts or '—'}</td></tr>\n"
                )
                if chunk := buffer.add(row):
                    yield chunk
        buffer.add("</table>")
    buffer.add("</body></html>\n")
    yield buffer.flush()


async def _linked_counts(activity_ids: list[str], at: datetime) -> dict[str, int]:
    rows = await ActivityClient.select(ActivityClient.activity).where(
        ActivityClient.activity.is_in(activity_ids)
        & (ActivityClient.added_at <= at)
        & (ActivityClient.removed_at.is_null() | (ActivityClient.removed_at > at))
    )
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["activity"]] = counts.get(row["activity"], 0) + 1
    return counts


async def _references(activity_ids: list[str], at: datetime) -> dict[str, str]:
    """Active activities' references at ``at``."""
    out = {}
    for start in range(0, len(activity_ids), BATCH):
        versions = await service.versions_as_of(activity_ids[start : start + BATCH], at)
        for activity_id, version in versions.items():
            content = json.loads(version["data_json"])
            if content["status"] == "active":
                out[activity_id] = content["reference"]
    return out


# -- signing ---------------------------------------------------------------------------------

_RENDERERS = {"json": iter_json, "csv": iter_csv, "html": iter_html}


def predicate(request: ExportRequest, size: int) -> dict[str, Any]:
    return {
        "export_id": request.export_id,
        "kind": "client-register" if request.client_id else "processor-register",
        "client_id": request.client_id,
        "format": request.format,
        "schema_version": SCHEMA_VERSION,
        "generated_at": utc_iso(request.generated_at),
        "as_of": utc_iso(request.at),
        "processor": get_settings().processor_name,
        "size": size,
    }


def sign_digest(request: ExportRequest, filename: str, sha256: str, size: int) -> dict[str, Any]:
    return sign(
        service_signing_key(), [(filename, sha256)], PREDICATE_TYPE, predicate(request, size)
    )


def _signature_path(scope: str, export_id: str) -> Path:
    return get_settings().var_dir / "register-exports" / scope / f"{export_id}.dsse.json"


async def stream_signed(request: ExportRequest, actor: str) -> AsyncIterator[bytes]:
    """The export's bytes; when the last has been sent, its signature is stored for the
    signature route and the export is recorded in the trail."""
    digest, size = hashlib.sha256(), 0
    async for chunk in _RENDERERS[request.format](request):
        digest.update(chunk)
        size += len(chunk)
        yield chunk
    envelope = sign_digest(request, request.filename, digest.hexdigest(), size)
    path = _signature_path(request.client_id or "processor", request.export_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(envelope, indent=2), encoding="utf-8")
    tmp.replace(path)
    async with db.transaction():
        await trail.append(
            now=request.generated_at,
            actor=actor,
            action="register.exported",
            subject_type="register_export",
            subject_id=request.export_id,
            client_id=request.client_id,
            details={
                "format": request.format,
                "as_of": utc_iso(request.at),
                "sha256": digest.hexdigest(),
                "size": size,
            },
        )


def stored_signature(export_id: str, client_id: str | None) -> dict[str, Any]:
    if not is_valid_id(export_id, "rex"):
        raise NotFound(f"export {export_id} not found", field="export_id")
    path = _signature_path(client_id or "processor", export_id)
    if not path.is_file():
        raise NotFound(
            f"export {export_id} has no signature (unknown, or its download did not finish)",
            field="export_id",
        )
    return json.loads(path.read_text(encoding="utf-8"))


async def write_export(request: ExportRequest, out: Path, actor: str = "cli") -> dict[str, Any]:
    """Write the export to ``out`` and its envelope to ``out.dsse.json`` (CLI)."""
    digest, size = hashlib.sha256(), 0
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with tmp.open("wb") as handle:
        async for chunk in _RENDERERS[request.format](request):
            digest.update(chunk)
            size += len(chunk)
            handle.write(chunk)
    tmp.replace(out)
    envelope = sign_digest(request, out.name, digest.hexdigest(), size)
    sidecar = out.with_name(out.name + ".dsse.json")
    sidecar.write_text(json.dumps(envelope, indent=2), encoding="utf-8")
    async with db.transaction():
        await trail.append(
            now=request.generated_at,
            actor=actor,
            action="register.exported",
            subject_type="register_export",
            subject_id=request.export_id,
            client_id=request.client_id,
            details={
                "format": request.format,
                "as_of": utc_iso(request.at),
                "sha256": digest.hexdigest(),
                "size": size,
            },
        )
    return {"file": str(out), "signature": str(sidecar), "sha256": digest.hexdigest(), "size": size}
