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
from collections.abc import Iterator
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
from gdpr_vault.web import nul_field

MAX_ERRORS = 200
KINDS = ("processor-register", "client-register")
_SURROGATE = re.compile("[\ud800-\udfff]")
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
    _check_text({k: v for k, v in doc.items() if k != "activities"}, 0, "", errors)
    scope = _json_scope(doc, errors)
    clients_of = _json_controllers(doc.get("controllers"), errors)
    records = []
    for index, item in enumerate(doc["activities"], start=1):
        if not isinstance(item, dict):
            errors.add(index, "activities", "object", "each entry is a JSON object")
            continue
        _check_text(item, index, "", errors)
        activity_id = item.get("activity_id")
        if activity_id is not None and not isinstance(activity_id, str):
            errors.add(index, "activity_id", "string", "activity_id must be a string")
            activity_id = None
        activity_id = activity_id or None
        raw = {name: item.get(name) for name in CONTENT_FIELDS if item.get(name) is not None}
        clients = set(_strings(item.get("client_ids"), index, "client_ids", errors))
        if activity_id is not None:
            clients |= clients_of.get(activity_id, set())
        status = item.get("status")
        records.append(
            Record(
                index,
                activity_id,
                raw,
                status="active" if status is None or status == "" else status,
                clients=clients,
                scoped=_links(item.get("subprocessors"), index, errors),
            )
        )
    return records, scope


def _json_scope(doc: dict[str, Any], errors: ImportErrors) -> str | None:
    """The client a ``client-register`` document is about; None for a processor-wide one."""
    kind = doc.get("kind")
    if kind is not None and kind not in KINDS:
        errors.add(0, "kind", "enum", "kind must be processor-register or client-register")
        return None
    if kind != "client-register":
        return None
    client_id = doc.get("client_id")
    if client_id is None or client_id == "":
        errors.add(0, "client_id", "required", "a client-register names its client_id")
    elif not isinstance(client_id, str):
        errors.add(0, "client_id", "string", "client_id must be a string")
    else:
        return client_id
    return None


def _json_controllers(value: Any, errors: ImportErrors) -> dict[str, set[str]]:
    """Activity id -> the clients the document's ``controllers`` link it to."""
    clients_of: dict[str, set[str]] = {}
    if value is None:
        return clients_of
    if not isinstance(value, list):
        errors.add(0, "controllers", "list", "controllers must be a list")
        return clients_of
    for index, controller in enumerate(value):
        where = f"controllers[{index}]"
        if not isinstance(controller, dict):
            errors.add(0, where, "object", "each controller is a JSON object")
            continue
        activity_ids = _strings(controller.get("activity_ids"), 0, f"{where}.activity_ids", errors)
        client_id = controller.get("client_id")
        if client_id is None or client_id == "":
            errors.add(0, f"{where}.client_id", "required", "each controller has a client_id")
        elif not isinstance(client_id, str):
            errors.add(0, f"{where}.client_id", "string", "client_id must be a string")
        else:
            for activity_id in activity_ids:
                clients_of.setdefault(activity_id, set()).add(client_id)
    return clients_of


def _items(
    value: Any, line: int, name: str, errors: ImportErrors, kind: type, rule: str, each: str
) -> list[Any]:
    """The items of a list that are of ``kind`` (absent: none); anything else is reported."""
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(line, name, "list", f"{name} must be a list")
        return []
    kept = []
    for index, item in enumerate(value):
        if isinstance(item, kind):
            kept.append(item)
        else:
            errors.add(line, f"{name}[{index}]", rule, each)
    return kept


def _strings(value: Any, line: int, name: str, errors: ImportErrors) -> list[str]:
    return _items(value, line, name, errors, str, "string", f"{name} holds strings only")


def _links(value: Any, line: int, errors: ImportErrors) -> list[dict[str, Any]]:
    """The sub-processor links of a record: a list of objects (absent: none)."""
    each = "each link is a JSON object"
    return _items(value, line, "subprocessors", errors, dict, "object", each)


def _check_text(value: Any, line: int, prefix: str, errors: ImportErrors) -> None:
    """Refuse decoded text the rest of the API refuses (docs/api.md, Conventions).

    The raw file is checked for NUL, but a JSON escape (``\\u0000``, a lone ``\\ud800``)
    only appears once decoded. PostgreSQL's ``text`` cannot store NUL and UTF-8 cannot encode
    a lone surrogate; the API's own JSON decoder refuses the latter as malformed JSON, hence
    the same rule names here (``no-nul-character``, ``json-syntax``), with the field's path.
    """
    path = nul_field(value)
    if path is not None:
        errors.add(line, _join(prefix, path), "no-nul-character", "holds a NUL character")
    path = _surrogate_field(value)
    if path is not None:
        # The path itself may hold the surrogate (a key): escaped, so the answer encodes.
        field_ = _join(prefix, path).encode("utf-8", "backslashreplace").decode("utf-8")
        errors.add(
            line, field_, "json-syntax", "holds a lone UTF-16 surrogate, not valid Unicode text"
        )


def _surrogate_field(value: Any) -> str | None:
    """The path of the first string or key holding a lone surrogate (as web.nul_field does)."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return path or "body"
        elif isinstance(item, dict):
            for key, inner in reversed(item.items()):
                field_ = f"{path}.{key}" if path else str(key)
                if _SURROGATE.search(str(key)):
                    return field_
                stack.append((field_, inner))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", inner) for i, inner in reversed(list(enumerate(item))))
    return None


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    return prefix + path if path.startswith("[") else f"{prefix}.{path}"


def _parse_csv(text: str, errors: ImportErrors) -> tuple[list[Record], str | None]:
    # A legitimate cell may be longer than the csv module's default limit (131,072 characters,
    # e.g. 200 sub-processor links with their descriptions); none can be longer than the file,
    # already in memory. The limit is process-wide: raised for this synchronous read only.
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        return _read_csv(text, errors)
    finally:
        csv.field_size_limit(limit)


def _read_csv(text: str, errors: ImportErrors) -> tuple[list[Record], str | None]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        errors.add(1, "body", "csv", f"not a readable CSV file: {exc}")
        return [], None
    for required in ("reference", "name"):
        if required not in header:
            errors.add(1, required, "required-column", f"the CSV needs a {required!r} column")
    if errors.errors:
        return [], None
    groups: dict[str, Record] = {}
    scopes: set[str] = set()
    for start, row in _rows(reader, errors):
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
        for link in _links(subs, start, errors):
            if link not in record.scoped:
                record.scoped.append(link)
    if len(scopes) > 1:
        errors.add(2, "register_scope", "single-scope", "all rows must share one register_scope")
    scope = next(iter(scopes), "processor")
    return list(groups.values()), scope.removeprefix("client:") if scope != "processor" else None


def _rows(
    reader: csv.DictReader[str], errors: ImportErrors
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each row with the line it starts on; a csv error ends the file as a reported error."""
    line = reader.line_num + 1
    try:
        for row in reader:
            start, line = line, reader.line_num + 1
            yield start, row
    except csv.Error as exc:
        errors.add(line, "body", "csv", f"not a readable CSV file: {exc}")


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
    _check_text(parsed, line, name, errors)
    return parsed


# -- checking --------------------------------------------------------------------------------


def _to_desired(record: Record, errors: ImportErrors) -> Desired | None:
    subs = []
    for link in record.scoped:
        subs.append(
            {
                "subprocessor_id": link.get("subprocessor_id") or "",
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
