"""The evidence bundle: one signed zip of everything that proves compliance towards one client.

Streamed: entries are compressed as they are produced into a small sink that the response
drains, so memory stays flat whatever the size of the trail. The trail goes through once, in
chain order: every event's ``(seq, prev_hash, hash)`` goes to ``trail/chain.jsonl`` (hashes
only, never another client's content) and this client's events of the period to
``trail/events.jsonl``; the chain lines wait in a spooled temporary file (bounded memory) until
the events entry is closed.

What a verifier needs offline (``gdpr-vault verify bundle.zip``, the public key only):

* ``manifest.dsse.json`` — a DSSE envelope over an in-toto Statement
  (``predicateType`` :data:`BUNDLE_PREDICATE`) whose subjects are every other file with its
  SHA-256, ``manifest.json`` included;
* ``trail/checkpoint.dsse.json`` — the signed trail checkpoint the chain ends at;
* ``trail/chain.jsonl`` + ``trail/events.jsonl`` — recompute each of this client's events'
  hashes and follow the links from the genesis to the signed head.

Entry names are built from sanitised segments (:func:`rules.safe_entry_name`) and cannot escape
the archive root, whatever the data holds.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import msgspec

from exporters.signing import sign
from gdpr_vault import db
from gdpr_vault.audits import rules
from gdpr_vault.audits import service as audits
from gdpr_vault.breaches import service as breaches
from gdpr_vault.contracts import service as contracts
from gdpr_vault.errors import Conflict, ValidationProblem
from gdpr_vault.evidence import trail
from gdpr_vault.evidence.checkpoints import create_checkpoint, latest_checkpoint
from gdpr_vault.evidence.keys import service_signing_key
from gdpr_vault.evidence.verify import (
    BUNDLE_CHAIN,
    BUNDLE_CHECKPOINT,
    BUNDLE_EVENTS,
    BUNDLE_MANIFEST,
    BUNDLE_PREDICATE,
    BUNDLE_SIGNATURE,
    EVENT_FIELDS,
    entry_name_error,
)
from gdpr_vault.pagination import PageRequest
from gdpr_vault.registers import service as registers
from gdpr_vault.reversibility import service as reversibility
from gdpr_vault.subprocessors import service as subprocessors
from gdpr_vault.timeutil import utc_iso

FORMAT_VERSION = 1
CHUNK = 256 * 1024
SPOOL_MAX = 8 * 1024 * 1024
TRAIL_BATCH = 5000
COMPRESSLEVEL = 6


@dataclass(frozen=True)
class Period:
    """``end`` is the "as of" instant (or ``to``); ``start`` is None for "everything until"."""

    start: datetime | None
    end: datetime
    as_of: bool

    def to_dict(self) -> dict[str, Any]:
        if self.as_of:
            return {"as_of": utc_iso(self.end)}
        return {"from": utc_iso(self.start), "to": utc_iso(self.end)}

    def contains(self, instant: datetime) -> bool:
        return (self.start is None or instant >= self.start) and instant <= self.end


@dataclass
class Plan:
    """Everything decided before the first byte leaves: sections are small, the trail is not."""

    client_id: str
    period: Period
    generated_at: datetime
    generated_by: str
    checkpoint: dict[str, Any]
    files: list[tuple[str, Any]] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)


def period_of(
    as_of: datetime | None, start: datetime | None, end: datetime | None, now: datetime
) -> Period:
    if as_of is not None and (start is not None or end is not None):
        raise ValidationProblem(
            "give either as_of or from/to, not both", field="as_of", rule="as-of-or-period"
        )
    if as_of is None and start is None and end is None:
        return Period(None, now, True)
    if as_of is not None:
        if as_of > now:
            raise ValidationProblem("as_of is in the future", field="as_of", rule="not-future")
        return Period(None, as_of, True)
    upper = end or now
    if upper > now:
        raise ValidationProblem("to is in the future", field="to", rule="not-future")
    if start is not None and start > upper:
        raise ValidationProblem("from is after to", field="from", rule="from-before-to")
    return Period(start, upper, False)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str).encode()


def _before(text: str | None, end: datetime) -> bool:
    return text is None or text <= (utc_iso(end) or "")


async def _all_pages(fetch: Callable[[PageRequest], Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        result = await fetch(PageRequest(500, cursor))
        items.extend(result["items"])
        cursor = result["next_cursor"]
        if not cursor:
            return items


async def _contract_files(plan: Plan) -> None:
    client_id, end = plan.client_id, plan.period.end
    for contract in await contracts.list_contracts(client_id):
        if not _before(contract["created_at"], end):
            continue
        folder = rules.safe_entry_name("contracts", f"{contract['reference']}_{contract['id']}")
        plan.files.append((f"{folder}/contract.json", contract))
        for version in await contracts.list_terms_versions(client_id, contract["id"]):
            if _before(version["created_at"], end):
                plan.files.append((f"{folder}/terms-v{int(version['version'])}.json", version))
    plan.sections["contracts"] = "contracts and every terms version in force by the end"


async def _register_files(plan: Plan) -> None:
    client_id, end = plan.client_id, plan.period.end
    register = await registers.client_register(client_id, end)
    plan.files.append(("register/register.json", register))
    measures = []
    for entry in register["activities"]:
        activity_id = entry["activity_id"]
        history = await registers.history(activity_id, client_id)
        history = [h for h in history if _before(h.get("at"), end)]
        name = rules.safe_entry_name("register", "history", f"{activity_id}.json")
        plan.files.append((name, history))
        measures.append(
            {
                "activity_id": activity_id,
                "name": entry.get("name"),
                "security_measures": entry.get("security_measures", []),
                "security_testing": entry.get("security_testing"),
            }
        )
    plan.files.append(("security-measures.json", {"as_of": utc_iso(end), "activities": measures}))
    plan.sections["register"] = "the client's register view as of the end, and each entry's history"
    plan.sections["security_measures"] = "Art. 32 measures of the register entries"


async def _subprocessor_files(plan: Plan) -> None:
    client_id, end = plan.client_id, plan.period.end
    current = await subprocessors.client_subprocessors(client_id, end, plan.generated_at)
    plan.files.append(("subprocessors/list.json", current))
    changes = await _all_pages(
        lambda request: subprocessors.client_changes(client_id, request, plan.generated_at)
    )
    changes = [c for c in changes if c.get("published_at") and _before(c["published_at"], end)]
    plan.files.append(("subprocessors/changes.json", changes))
    plan.sections["subprocessors"] = (
        "sub-processors as of the end; change notices with this client's state and objections"
    )


async def _breach_files(plan: Plan) -> None:
    client_id, end = plan.client_id, plan.period.end
    listed = await _all_pages(lambda request: breaches.list_breaches(request, None, client_id))
    for item in listed:
        if not _before(item.get("created_at"), end):
            continue
        view = await breaches.client_breach(client_id, item["id"], plan.generated_at)
        plan.files.append((rules.safe_entry_name("breaches", f"{item['id']}.json"), view))
    plan.sections["breaches"] = "breaches that affected this client, with its notices"


async def _reversibility_files(plan: Plan) -> None:
    client_id, end, now = plan.client_id, plan.period.end, plan.generated_at
    listed = await _all_pages(
        lambda request: reversibility.list_cases(client_id, None, request, now)
    )
    for item in listed:
        if not _before(item.get("opened_at"), end):
            continue
        case = await reversibility.get_case(client_id, item["id"], now)
        plan.files.append((rules.safe_entry_name("reversibility", f"{item['id']}.json"), case))
        if case["certificate_sha256"]:
            certificate = await reversibility.certificate(client_id, item["id"])
            name = rules.safe_entry_name("reversibility", f"{item['id']}.certificate.dsse.json")
            plan.files.append((name, certificate))
    plan.sections["reversibility"] = (
        "end-of-contract cases: exports with their manifest digests and signatures, deletion "
        "certificates"
    )


async def _audit_files(plan: Plan) -> None:
    history = await audits.client_history(plan.client_id, plan.period.start, plan.period.end)
    plan.files.append(("audits/audits.json", history))
    plan.sections["audits"] = "audit requests, decisions and findings (with remediation)"


async def prepare(
    client_id: str,
    period: Period,
    actor: str,
    now: datetime,
) -> Plan:
    """Record the hand-over, make sure a signed checkpoint covers the period, collect sections."""
    client = await contracts.get_client(client_id)
    async with db.transaction():
        await trail.append(
            now=now,
            actor=actor,
            action="evidence.bundle_generated",
            subject_type="client",
            subject_id=client_id,
            client_id=client_id,
            details={"period": period.to_dict()},
        )
    checkpoint = await latest_checkpoint()
    if checkpoint is None or checkpoint["created_at"] <= period.end:
        await create_checkpoint(now)
        checkpoint = await latest_checkpoint()
    if checkpoint is None:
        raise Conflict("the trail is empty: nothing to prove", rule="trail-not-empty")
    plan = Plan(client_id, period, now, actor, checkpoint)
    plan.files.append(("client.json", client))
    await _contract_files(plan)
    await _register_files(plan)
    await _subprocessor_files(plan)
    await _breach_files(plan)
    await _audit_files(plan)
    await _reversibility_files(plan)
    plan.sections["trail"] = (
        "this client's trail events in the period, the hash chain up to the signed checkpoint"
    )
    return plan


class _Sink:
    """A write-only, non-seekable file for ``zipfile``: bytes wait here until drained."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self.pending = 0
        self._position = 0

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        self.pending += len(data)
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def seek(self, *_: Any) -> int:
        raise OSError("not seekable")

    def flush(self) -> None:
        return None

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        self.pending = 0
        return data


class _Entry:
    """One open zip entry that hashes what it writes."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)


_ENCODER = msgspec.json.Encoder(order="sorted")


def event_line(row: dict[str, Any]) -> bytes:
    """One of this client's events: its hashed fields, ``prev_hash`` and ``hash``."""
    event = {name: row[name] for name in EVENT_FIELDS}
    event["occurred_at"] = utc_iso(row["occurred_at"])
    event["prev_hash"] = row["prev_hash"]
    event["hash"] = row["hash"]
    return _ENCODER.encode(event) + b"\n"


def chain_line(row: dict[str, Any]) -> bytes:
    """One link of the chain: hashes only, whoever the event concerns."""
    return b'{"hash":"%s","prev_hash":"%s","seq":%d}\n' % (
        row["hash"].encode(),
        row["prev_hash"].encode(),
        row["seq"],
    )


async def stream(plan: Plan) -> AsyncIterator[bytes]:
    """The zip, chunk by chunk; manifest and signature come last."""
    sink = _Sink()
    archive = zipfile.ZipFile(
        sink,  # type: ignore[arg-type]
        mode="w",
        compression=zipfile.ZIP_DEFLATED,
        compresslevel=COMPRESSLEVEL,
    )
    written: list[dict[str, Any]] = []

    def open_entry(name: str, large: bool = False) -> _Entry:
        error = entry_name_error(name)
        if error:
            raise ValueError(error)
        return _Entry(archive.open(name, mode="w", force_zip64=large))

    def close_entry(name: str, entry: _Entry) -> None:
        entry.handle.close()
        written.append({"name": name, "sha256": entry.digest.hexdigest(), "bytes": entry.size})

    for name, value in plan.files:
        entry = open_entry(name)
        entry.write(_json_bytes(value))
        close_entry(name, entry)
        if sink.pending >= CHUNK:
            yield sink.drain()

    checkpoint = plan.checkpoint
    upto = int(checkpoint["upto_seq"])
    entry = open_entry(BUNDLE_CHECKPOINT)
    entry.write(_json_bytes(checkpoint["envelope"]))
    close_entry(BUNDLE_CHECKPOINT, entry)

    own_events = 0
    # Compression and hashing run in a worker thread (zlib and hashlib release the GIL) while
    # the next batch of events is read: one write in flight at a time, the sink drained only
    # when it has settled.
    pending: asyncio.Future[None] | None = None
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX) as spool:
        events = open_entry(BUNDLE_EVENTS, large=True)
        mine: list[bytes] = []
        links: list[bytes] = []
        async for row in trail.iter_events(batch=TRAIL_BATCH):
            if row["seq"] > upto:
                break
            links.append(chain_line(row))
            if row["client_id"] == plan.client_id and plan.period.contains(row["occurred_at"]):
                mine.append(event_line(row))
            if len(links) >= TRAIL_BATCH:
                data = b"".join(mine)
                own_events += len(mine)
                mine.clear()
                spool.write(b"".join(links))
                links.clear()
                if pending is not None:
                    await pending
                if sink.pending >= CHUNK:
                    yield sink.drain()
                pending = asyncio.ensure_future(asyncio.to_thread(events.write, data))
        if pending is not None:
            await pending
        events.write(b"".join(mine))
        spool.write(b"".join(links))
        own_events += len(mine)
        close_entry(BUNDLE_EVENTS, events)
        yield sink.drain()
        spool.seek(0)
        chain = open_entry(BUNDLE_CHAIN, large=True)
        while data := spool.read(1 << 20):
            chain.write(data)
            if sink.pending >= CHUNK:
                yield sink.drain()
        close_entry(BUNDLE_CHAIN, chain)

    manifest = {
        "format": FORMAT_VERSION,
        "predicate_type": BUNDLE_PREDICATE,
        "client_id": plan.client_id,
        "generated_at": utc_iso(plan.generated_at),
        "generated_by": plan.generated_by,
        "period": plan.period.to_dict(),
        "checkpoint": {
            "id": checkpoint["id"],
            "upto_seq": upto,
            "head_hash": checkpoint["head_hash"],
            "created_at": utc_iso(checkpoint["created_at"]),
        },
        "trail": {"client_events": own_events, "chain_events": upto},
        "sections": plan.sections,
        "files": written,
    }
    body = _json_bytes(manifest)
    entry = open_entry(BUNDLE_MANIFEST)
    entry.write(body)
    close_entry(BUNDLE_MANIFEST, entry)
    envelope = sign(
        service_signing_key(),
        [(f["name"], f["sha256"]) for f in written],
        BUNDLE_PREDICATE,
        {
            "client_id": plan.client_id,
            "generated_at": manifest["generated_at"],
            "period": manifest["period"],
            "checkpoint": manifest["checkpoint"],
        },
    )
    entry = open_entry(BUNDLE_SIGNATURE)
    entry.write(_json_bytes(envelope))
    entry.handle.close()
    archive.close()
    yield sink.drain()
