"""Import an existing register from a JSON or CSV export: validated line by line, all or nothing.

The file is read completely and every record checked (types and lengths, ISO country codes,
known safeguards, existing clients and sub-processors, unique references, rows of one activity
agreeing with each other) before anything is written. Any error refuses the whole file with a
422 problem whose ``errors`` list names each ``line``, ``field``, ``rule`` and ``detail``; when
the file is clean, every record is applied in **one** transaction.

Lines: for CSV the physical line where the record starts (the header is line 1); for JSON the
1-based position of the entry in ``activities`` (line 0: the document itself).

A record with an ``activity_id`` updates that activity (or creates it under that id, so an
export re-imported into an empty register keeps its ids); without one, the ``reference`` finds
the activity to update, or a new one is created. A processor-wide file sets each activity's
clients exactly; a client's file (``register_scope`` ``client:<id>`` / JSON ``kind``
``client-register``) only touches that client's links and leaves other clients alone.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from gdpr_vault import db
from gdpr_vault.errors import ValidationProblem
from gdpr_vault.ids import is_valid_id
from gdpr_vault.registers import service
from gdpr_vault.registers.exports import LIST_CELLS
from gdpr_vault.registers.rules import SCHEMA_VERSION
from gdpr_vault.registers.schemas import ActivityIn
from gdpr_vault.registers.service import Desired
from gdpr_vault.registers.tables import ProcessingActivity

MAX_ERRORS = 200
_AT = re.compile(r"at `\$\.?([^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]+)`")
CONTENT_FIELDS = (
    "reference",
    "name",
    "description",
    *LIST_CELLS,
    "retention",
    "transfers",
    "availability_restoration",
    "security_testing",
)


@dataclass
class Record:
    line: int
    activity_id: str | None
    raw: dict[str, Any]
    status: str = "active"
    clients: set[str] = field(default_factory=set)
    scoped: list[dict[str, Any]] = field(default_factory=list)
    desired: Desired | None = None


class ImportErrors(Exception):
    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []

    def add(self, line: int, field_: str, rule: str, detail: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"line": line, "field": field_, "rule": rule, "detail": detail})

    def raise_if_any(self) -> None:
        if self.errors:
            first = self.errors[0]
            count = len(self.errors)
            detail = (
                f"line {first['line']}, {first['field']}: {first['detail']}"
                if count == 1
                else f"{count} errors; first at line {first['line']}, {first['field']}: "
                f"{first['detail']}"
            )
            raise ValidationProblem(
                "nothing was imported: " + detail,
                field=first["field"],
                rule=first["rule"],
                extra={"errors": self.errors},
            )


# -- parsing ---------------------------------------------------------------------------------


def _parse_json(text: str, errors: ImportErrors) -> tuple[list[Record], str | None]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        errors.add(0, "body", "json", f"not valid JSON: {exc}")
        return [], None
    except RecursionError:
        errors.add(0, "body", "max-depth", "the JSON nests too deeply")
        return [], None
    if not isinstance(doc, dict) or not isinstance(doc.get("activities"), list):
        errors.add(0, "activities", "required", "a register document has an activities list")
        return [], None
    if str(doc.get("schema_version")) != SCHEMA_VERSION:
        errors.add(
            0,
            "schema_version",
            "supported-version",
            f"schema_version must be {SCHEMA_VERSION!r} (got {doc.get('schema_version')!r})",
        )
        return [], None
    scope = doc.get("client_id") if doc.get("kind") == "client-register" else None
    clients_of: dict[str, set[str]] = {}
    for controller in doc.get("controllers") or []:
        if isinstance(controller, dict):
            for activity_id in controller.get("activity_ids") or []:
                clients_of.setdefault(str(activity_id), set()).add(str(controller["client_id"]))
    records = []
    for index, item in enumerate(doc["activities"], start=1):
        if not isinstance(item, dict):
            errors.add(index, "activities", "object", "each entry is a JSON object")
            continue
        activity_id = item.get("activity_id") or None
        raw = {name: item.get(name) for name in CONTENT_FIELDS if item.get(name) is not None}
        clients = set(item.get("client_ids") or []) | clients_of.get(str(activity_id), set())
        subs = item.get("subprocessors") or []
        if not isinstance(subs, list):
            errors.add(index, "subprocessors", "list", "subprocessors must be a list")
            subs = []
        records.append(
            Record(
                index,
                activity_id,
                raw,
                status=item.get("status") or "active",
                clients=clients,
                scoped=[s for s in subs if isinstance(s, dict)],
            )
        )
    return records, scope


def _parse_csv(text: str, errors: ImportErrors) -> tuple[list[Record], str | None]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    for required in ("reference", "name"):
        if required not in header:
            errors.add(1, required, "required-column", f"the CSV needs a {required!r} column")
    if errors.errors:
        return [], None
    groups: dict[str, Record] = {}
    scopes: set[str] = set()
    line = reader.line_num + 1
    for row in reader:
        start, line = line, reader.line_num + 1
        if None in row:
            errors.add(start, "row", "column-count", "more cells than header columns")
            continue
        scopes.add((row.get("register_scope") or "processor").strip())
        raw: dict[str, Any] = {}
        for name in CONTENT_FIELDS:
            value = row.get(name)
            if value is None:
                continue
            if name in LIST_CELLS:
                raw[name] = [v for v in value.split("\n") if v.strip()]
            elif name == "transfers":
                raw[name] = _json_cell(value, start, name, errors)
            else:
                raw[name] = value
        subs = _json_cell(row.get("subprocessors") or "", start, "subprocessors", errors)
        activity_id = (row.get("activity_id") or "").strip() or None
        key = activity_id or "ref:" + (row.get("reference") or "").strip()
        record = groups.get(key)
        if record is None:
            record = Record(start, activity_id, raw, status=(row.get("status") or "active"))
            groups[key] = record
        else:
            for name in CONTENT_FIELDS:
                if record.raw.get(name) != raw.get(name):
                    errors.add(
                        start,
                        name,
                        "consistent-activity",
                        f"differs from line {record.line} for the same activity",
                    )
                    break
        client_id = (row.get("client_id") or "").strip()
        if client_id:
            record.clients.add(client_id)
        for link in subs:
            if isinstance(link, dict) and link not in record.scoped:
                record.scoped.append(link)
    if len(scopes) > 1:
        errors.add(2, "register_scope", "single-scope", "all rows must share one register_scope")
    scope = next(iter(scopes), "processor")
    return list(groups.values()), scope.removeprefix("client:") if scope != "processor" else None


def _json_cell(value: str, line: int, name: str, errors: ImportErrors) -> list[Any]:
    if not value.strip():
        return []
    try:
        parsed = json.loads(value)
    except ValueError:
        errors.add(line, name, "json", f"{name} must be a JSON list, as exported")
        return []
    except RecursionError:
        errors.add(line, name, "max-depth", f"{name} nests JSON too deeply")
        return []
    if not isinstance(parsed, list):
        errors.add(line, name, "json", f"{name} must be a JSON list, as exported")
        return []
    return parsed


# -- checking --------------------------------------------------------------------------------


def _to_desired(record: Record, errors: ImportErrors) -> Desired | None:
    subs = []
    for link in record.scoped:
        subs.append(
            {
                "subprocessor_id": str(link.get("subprocessor_id") or ""),
                "activities": link.get("activities") or "",
                "client_id": link.get("client_id") or None,
            }
        )
    body = {
        **record.raw,
        "reason": "import",
        "client_ids": sorted(record.clients),
        "subprocessors": subs,
    }
    try:
        data = msgspec.convert(body, ActivityIn)
    except msgspec.ValidationError as exc:
        errors.add(record.line, _schema_field(str(exc)), "schema", str(exc))
        return None
    if record.status not in ("active", "retired"):
        errors.add(record.line, "status", "enum", "status must be active or retired")
        return None
    return service.desired_from_input(data, record.status)


def _schema_field(message: str) -> str:
    """The field a msgspec message is about: ``$.transfers[0].country`` -> that path."""
    at, missing = _AT.search(message), _MISSING.search(message)
    path = at.group(1) if at else ""
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return path or "entry"


async def _plan(
    records: list[Record], scope: str | None, errors: ImportErrors
) -> list[tuple[Record, str | None]]:
    known_clients = await service.existing_client_ids(
        {c for r in records for c in r.clients} | ({scope} if scope else set())
    )
    if scope is not None and scope not in known_clients:
        errors.add(0, "client_id", "existing-client", f"client {scope} not found")
    facts = await service.subprocessor_facts()
    references: dict[str, int] = {}
    for record in records:
        if record.activity_id is not None and not is_valid_id(record.activity_id, "pra"):
            errors.add(record.line, "activity_id", "id-format", "not a processing activity id")
            continue
        desired = _to_desired(record, errors)
        if desired is None:
            continue
        assert desired.content is not None
        reference = desired.content["reference"]
        if reference in references:
            errors.add(
                record.line,
                "reference",
                "unique",
                f"reference {reference!r} is also used on line {references[reference]}",
            )
        references.setdefault(reference, record.line)
        for problem in await service.validate_desired(
            desired, known_clients=known_clients, known_subprocessors=facts
        ):
            errors.add(record.line, problem["field"], problem["rule"], problem["detail"])
        if scope is not None:
            outside = {c for c in desired.clients or set() if c != scope}
            if outside:
                errors.add(
                    record.line,
                    "client_id",
                    "client-scope",
                    f"a client's register names only that client ({scope})",
                )
        record.desired = desired
    existing = {}
    if references:
        rows = await ProcessingActivity.select(
            ProcessingActivity.id, ProcessingActivity.reference
        ).where(ProcessingActivity.reference.is_in(sorted(references)))
        existing = {r["reference"]: r["id"] for r in rows}
    plan = []
    for record in records:
        if record.desired is None or record.desired.content is None:
            continue
        owner = existing.get(record.desired.content["reference"])
        target = record.activity_id or owner
        if owner is not None and target != owner:
            errors.add(
                record.line,
                "reference",
                "unique",
                f"reference {record.desired.content['reference']!r} belongs to activity {owner}",
            )
        plan.append((record, target))
    return plan


def parse(payload: bytes, fmt: str | None = None) -> tuple[list[Record], str | None, ImportErrors]:
    errors = ImportErrors()
    try:
        text = payload.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        errors.add(0, "body", "utf-8", f"the file is not UTF-8: {exc}")
        return [], None, errors
    if "\x00" in text:
        errors.add(0, "body", "no-nul-character", "the file holds a NUL character")
        return [], None, errors
    if fmt is None:
        fmt = "json" if text.lstrip().startswith("{") else "csv"
    if fmt == "json":
        records, scope = _parse_json(text, errors)
    else:
        records, scope = _parse_csv(text, errors)
    if not records and not errors.errors:
        errors.add(0, "body", "non-empty", "the file holds no processing activity")
    return records, scope, errors


async def import_register(
    payload: bytes, *, actor: str, now: datetime, reason: str, fmt: str | None = None
) -> dict[str, Any]:
    """Check everything, then apply every record in one transaction; a summary back."""
    if len(reason.strip()) < 3:
        raise ValidationProblem("a reason of 3 characters or more", field="reason", rule="length")
    records, scope, errors = parse(payload, fmt)
    errors.raise_if_any()
    plan = await _plan(records, scope, errors)
    errors.raise_if_any()
    created = updated = unchanged = 0
    async with db.transaction():
        for record, target in plan:
            desired = record.desired
            assert desired is not None
            exists = target is not None and await ProcessingActivity.exists().where(
                ProcessingActivity.id == target
            )
            if scope is not None and exists:
                assert target is not None
                current = await service.open_clients(target)
                desired.clients = (current - {scope}) | (desired.clients or set())
                current_scoped = await service.open_scoped(target)
                desired.scoped = {k for k in current_scoped if k[1] != scope} | (
                    desired.scoped or set()
                )
            _, changed = await service.apply_desired(
                target, desired, actor=actor, now=now, reason=reason, action="register.imported"
            )
            if not exists:
                created += 1
            elif changed:
                updated += 1
            else:
                unchanged += 1
    return {
        "records": len(plan),
        "created": created,
        "updated": updated,
        "unchanged": unchanged,
        "scope": f"client:{scope}" if scope else "processor",
    }
