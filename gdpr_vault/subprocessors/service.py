"""Use cases for the sub-processor list and its changes (GDPR Art. 28(2), 28(4)).

Each use case is one transaction that appends its trail events; refusals are decided before
the transaction opens where possible so a refused request writes nothing. The life of a
change for one client: ``pending`` (published, its notice not queued yet: large fan-outs queue
notices in background jobs of :data:`NOTIFY_BATCH` clients) → ``notified`` (notice queued) →
``received`` (receipt recorded, the window runs) → ``objected`` / ``accepted`` (explicitly, or
by silence when the window closes) → ``resolved`` (an objection's outcome) → ``active`` (the
change took effect for the client).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from gdpr_vault import db
from gdpr_vault.bulk import analyze_after_bulk, insert_rows, sqlite_execute_many, where_in
from gdpr_vault.clocks import Deadline, parse_duration
from gdpr_vault.contracts import service as contracts
from gdpr_vault.contracts.terms import ContractTerms, TermsError, effective_duration, load_terms
from gdpr_vault.errors import Conflict, NotFound, ValidationProblem
from gdpr_vault.evidence import trail
from gdpr_vault.ids import is_valid_id, new_id
from gdpr_vault.inputs import check_input_date
from gdpr_vault.jobs.queue import complete_in_transaction, enqueue
from gdpr_vault.notifications import service as notifications
from gdpr_vault.notifications import slots
from gdpr_vault.pagination import PageRequest, page
from gdpr_vault.registers import service as registers
from gdpr_vault.settings import get_settings
from gdpr_vault.subprocessors import rules
from gdpr_vault.subprocessors.schemas import (
    ActivationIn,
    ChangeIn,
    ChangePatch,
    ResolutionIn,
    SubprocessorIn,
    SubprocessorPatch,
)
from gdpr_vault.subprocessors.tables import (
    Subprocessor,
    SubprocessorAssignment,
    SubprocessorChange,
    SubprocessorChangeClient,
    SubprocessorObjection,
    SubprocessorRevision,
)
from gdpr_vault.timeutil import (
    utc_iso,
)

NOTICE_KIND = "subprocessor.change"
WINDOW_JOB = "subprocessor.window_close"
NOTIFY_JOB = "subprocessor.notify_batch"
BATCH = 500
#: Clients per fan-out job (one transaction and one ``notice.queued_batch`` event each).
NOTIFY_BATCH = 500
#: Up to this many clients, publication queues the notices itself (same code path as the
#: jobs), so a small change is ``notified`` as soon as the publish request returns.
INLINE_FAN_OUT = 50
_TINY = timedelta(microseconds=1)


# -- small helpers ----------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _loads(text: str | None, default: Any = None) -> Any:
    return json.loads(text) if text else default


def _chunks(items: Sequence[Any], size: int = BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _digest(values: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(values)).encode()).hexdigest()


def _refuse(
    problem: type[ValidationProblem] | type[Conflict], errors: list[rules.RuleError]
) -> ValidationProblem | Conflict:
    first = errors[0]
    detail = first.detail if len(errors) == 1 else f"{len(errors)} problems; first: {first.detail}"
    return problem(
        detail,
        field=first.field or ("client_ids" if first.client_id else None),
        rule=first.rule,
        extra={"errors": [e.to_dict() for e in errors]},
    )


def _check_countries(codes: Sequence[str], field: str) -> None:
    errors = rules.countries_errors(codes, field)
    if errors:
        raise ValidationProblem(errors[0][1], field=errors[0][0], rule="iso-3166-1-alpha-2")


def _check_transfer(country: str, locations: Sequence[str], mechanism: str | None) -> None:
    error = rules.transfer_mechanism_error(country, locations, mechanism)
    if error:
        raise ValidationProblem(error, field="transfer_mechanism", rule="transfer-mechanism")


# -- the list ---------------------------------------------------------------------------------


def sub_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "legal_name": row["legal_name"],
        "registration_id": row["registration_id"],
        "address": row["address"],
        "country": row["country"],
        "contact": row["contact"],
        "activities": _loads(row["activities"], []),
        "data_categories": _loads(row["data_categories"], []),
        "hosting_locations": _loads(row["hosting_locations"], []),
        "outside_eea": rules.outside_eea(row["country"], _loads(row["hosting_locations"], [])),
        "transfer_mechanism": row["transfer_mechanism"],
        "dpa_reference": row["dpa_reference"],
        "dpa_date": row["dpa_date"].isoformat() if row["dpa_date"] else None,
        "status": row["status"],
        "created_at": utc_iso(row["created_at"]),
        "updated_at": utc_iso(row["updated_at"]),
    }


async def _sub_row(sub_id: str, field: str = "subprocessor_id") -> dict[str, Any]:
    row = None
    if is_valid_id(sub_id, "sub"):
        row = await Subprocessor.select().where(Subprocessor.id == sub_id).first()
    if row is None:
        raise NotFound(f"sub-processor {sub_id} not found", field=field)
    return row


async def _revise(row: dict[str, Any], now: datetime, reason: str, change_id: str | None) -> None:
    """Close the open revision of this sub-processor and open one for ``row``."""
    await SubprocessorRevision.update({SubprocessorRevision.valid_to: now}).where(
        (SubprocessorRevision.subprocessor == row["id"]) & SubprocessorRevision.valid_to.is_null()
    )
    await SubprocessorRevision.insert(
        SubprocessorRevision(
            id=new_id("spr"),
            subprocessor=row["id"],
            valid_from=now,
            status=row["status"],
            snapshot_json=_dumps(sub_out(row)),
            reason=reason,
            change_id=change_id,
        )
    )


async def _require_clients(client_ids: Sequence[str], field: str = "client_ids") -> None:
    known = await contracts.clients_by_id(client_ids)
    for index, client_id in enumerate(client_ids):
        if client_id not in known:
            raise ValidationProblem(
                f"client {client_id} not found", field=f"{field}[{index}]", rule="known-client"
            )


def _validate_identity(data: SubprocessorIn | dict[str, Any]) -> None:
    get = data.get if isinstance(data, dict) else lambda k: getattr(data, k)
    error = rules.countries_errors([get("country")], "country")
    if error:
        raise ValidationProblem(error[0][1], field="country", rule="iso-3166-1-alpha-2")
    _check_countries(get("hosting_locations"), "hosting_locations")
    _check_transfer(get("country"), get("hosting_locations"), get("transfer_mechanism"))


async def create_subprocessor(data: SubprocessorIn, actor: str, now: datetime) -> dict[str, Any]:
    _validate_identity(data)
    since = now
    if data.status == "active":
        if data.active_since is not None:
            since = check_input_date(data.active_since, "active_since")
            if since > now:
                raise ValidationProblem(
                    "active_since is in the future", field="active_since", rule="not-future"
                )
        await _require_clients(data.client_ids)
    elif data.client_ids or data.active_since:
        raise ValidationProblem(
            "a proposed sub-processor reaches clients only through a notified change",
            field="client_ids",
            rule="change-required",
        )
    sub_id = new_id("sub")
    row = Subprocessor(
        id=sub_id,
        legal_name=data.legal_name,
        registration_id=data.registration_id,
        address=data.address,
        country=data.country,
        contact=data.contact,
        activities=_dumps(data.activities),
        data_categories=_dumps(data.data_categories),
        hosting_locations=_dumps(data.hosting_locations),
        transfer_mechanism=data.transfer_mechanism,
        dpa_reference=data.dpa_reference,
        dpa_date=data.dpa_date,
        status=data.status,
        created_at=now,
        updated_at=now,
    )
    async with db.transaction():
        await Subprocessor.insert(row)
        stored = row.to_dict()
        await _revise(stored, since, "created", None)
        assignments = [
            SubprocessorAssignment(
                id=new_id("spa"),
                client_id=client_id,
                subprocessor=sub_id,
                activities=_dumps(data.activities),
                hosting_locations=_dumps(data.hosting_locations),
                valid_from=since,
            )
            for client_id in dict.fromkeys(data.client_ids)
        ]
        for batch in _chunks(assignments):
            await SubprocessorAssignment.insert(*batch)
        await trail.append(
            now=now,
            actor=actor,
            action="subprocessor.created",
            subject_type="subprocessor",
            subject_id=sub_id,
            after=sub_out(stored),
            details={
                "status": data.status,
                "clients": len(assignments),
                "clients_digest": _digest(a.client_id for a in assignments),
                "active_since": utc_iso(since),
            },
        )
    return await get_subprocessor(sub_id)


async def get_subprocessor(sub_id: str) -> dict[str, Any]:
    out = sub_out(await _sub_row(sub_id))
    out["clients"] = await SubprocessorAssignment.count().where(
        (SubprocessorAssignment.subprocessor == sub_id) & SubprocessorAssignment.valid_to.is_null()
    )
    return out


async def update_subprocessor(
    sub_id: str, patch: SubprocessorPatch, actor: str, now: datetime
) -> dict[str, Any]:
    row = await _sub_row(sub_id)
    changes: dict[str, Any] = {
        k: v for k, v in ((f, getattr(patch, f)) for f in patch.__struct_fields__) if v is not None
    }
    if not changes:
        raise ValidationProblem("nothing to change", field="body", rule="non-empty-patch")
    guarded = {"country", "activities", "hosting_locations"} & changes.keys()
    if guarded and row["status"] != "proposed":
        field = sorted(guarded)[0]
        raise Conflict(
            f"{field} of a {row['status']} sub-processor changes only through a notified change "
            "(POST /api/v1/subprocessor-changes)",
            field=field,
            rule="change-required",
        )
    merged = sub_out(row)
    merged.update(changes)
    _validate_identity(merged)
    values: dict[Any, Any] = {Subprocessor.updated_at: now}
    for key, value in changes.items():
        column = getattr(Subprocessor, key)
        values[column] = _dumps(value) if isinstance(value, list) else value
    async with db.transaction():
        await Subprocessor.update(values).where(Subprocessor.id == sub_id)
        after = await _sub_row(sub_id)
        await _revise(after, now, "updated", None)
        await trail.append(
            now=now,
            actor=actor,
            action="subprocessor.updated",
            subject_type="subprocessor",
            subject_id=sub_id,
            before=sub_out(row),
            after=sub_out(after),
            details={"fields": sorted(changes)},
        )
    return await get_subprocessor(sub_id)


async def delete_subprocessor(sub_id: str, actor: str, now: datetime) -> None:
    """Only a proposed entry no change refers to; anything else is retired by a change."""
    row = await _sub_row(sub_id)
    if row["status"] != "proposed":
        raise Conflict(
            f"a {row['status']} sub-processor is retired by a 'remove' change, not deleted",
            rule="change-required",
        )
    used = await SubprocessorChange.count().where(
        (SubprocessorChange.subprocessor == sub_id) | (SubprocessorChange.replaces == sub_id)
    )
    if used:
        raise Conflict("a change refers to this sub-processor", rule="referenced")
    async with db.transaction():
        await SubprocessorRevision.delete().where(SubprocessorRevision.subprocessor == sub_id)
        try:
            await Subprocessor.delete().where(Subprocessor.id == sub_id)
        except Exception as exc:  # a register entry's foreign key (another capability's table)
            raise Conflict(
                "a register entry refers to this sub-processor", rule="referenced"
            ) from exc
        await trail.append(
            now=now,
            actor=actor,
            action="subprocessor.deleted",
            subject_type="subprocessor",
            subject_id=sub_id,
            before=sub_out(row),
        )


def _parse_as_of(as_of: datetime | None, now: datetime) -> datetime:
    if as_of is None:
        return now
    return check_input_date(as_of, "as_of")


async def list_subprocessors(
    request: PageRequest, status: str | None, as_of: datetime | None, now: datetime
) -> dict[str, Any]:
    """The DPO-wide list; ``as_of`` gives the entries as they stood then, and their clients."""
    if status is not None and status not in rules.STATUSES:
        raise ValidationProblem(
            f"status must be one of {', '.join(rules.STATUSES)}", field="status", rule="enum"
        )
    if as_of is None:
        query = Subprocessor.select().order_by(Subprocessor.id).limit(request.limit + 1)
        if request.cursor:
            query = query.where(Subprocessor.id > request.cursor)
        if status:
            query = query.where(Subprocessor.status == status)
        items = [sub_out(r) for r in await query]
        counts = await _client_counts([i["id"] for i in items], now)
        for item in items:
            item["clients"] = counts.get(item["id"], 0)
        return {**page(items, request), "as_of": None}
    at = _parse_as_of(as_of, now)
    rev = SubprocessorRevision
    query = (
        rev.select()
        .where((rev.valid_from <= at) & (rev.valid_to.is_null() | (rev.valid_to > at)))
        .order_by(rev.subprocessor)
        .limit(request.limit + 1)
    )
    if request.cursor:
        query = query.where(rev.subprocessor > request.cursor)
    if status:
        query = query.where(rev.status == status)
    items = []
    for r in await query:
        snapshot = _loads(r["snapshot_json"], {})
        snapshot["status"] = r["status"]
        items.append(snapshot)
    counts = await _client_counts([i["id"] for i in items], at)
    for item in items:
        item["clients"] = counts.get(item["id"], 0)
    return {**page(items, request), "as_of": utc_iso(at)}


def _open_at(at: datetime) -> Any:
    a = SubprocessorAssignment
    return (a.valid_from <= at) & (a.valid_to.is_null() | (a.valid_to > at))


async def _client_counts(sub_ids: list[str], at: datetime) -> dict[str, int]:
    if not sub_ids:
        return {}
    a = SubprocessorAssignment
    rows = await a.select(a.subprocessor).where(a.subprocessor.is_in(sub_ids) & _open_at(at))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["subprocessor"]] = counts.get(r["subprocessor"], 0) + 1
    return counts


async def client_subprocessors(client_id: str, as_of: datetime | None, now: datetime) -> dict:
    """Who processed this client's data at ``as_of`` (default now), and since when."""
    await contracts.get_client(client_id)
    at = _parse_as_of(as_of, now)
    a = SubprocessorAssignment
    rows = await a.select().where((a.client_id == client_id) & _open_at(at)).order_by(a.id)
    items = []
    rev = SubprocessorRevision
    for r in rows:
        revision = await (
            rev.select()
            .where(
                (rev.subprocessor == r["subprocessor"])
                & (rev.valid_from <= at)
                & (rev.valid_to.is_null() | (rev.valid_to > at))
            )
            .first()
        )
        snapshot = (
            _loads(revision["snapshot_json"], {})
            if revision
            else sub_out(await _sub_row(r["subprocessor"]))
        )
        items.append(
            {
                "subprocessor_id": r["subprocessor"],
                "legal_name": snapshot["legal_name"],
                "registration_id": snapshot["registration_id"],
                "address": snapshot["address"],
                "country": snapshot["country"],
                "contact": snapshot["contact"],
                "data_categories": snapshot["data_categories"],
                "transfer_mechanism": snapshot["transfer_mechanism"],
                "activities": _loads(r["activities"], []),
                "hosting_locations": _loads(r["hosting_locations"], []),
                "since": utc_iso(r["valid_from"]),
                "until": utc_iso(r["valid_to"]),
                "change_id": r["change_id"],
            }
        )
    return {"client_id": client_id, "as_of": utc_iso(at), "items": items}


async def public_list() -> list[dict[str, Any]]:
    """Current (active) sub-processors for the optional public page: no client data."""
    rows = await (
        Subprocessor.select()
        .where(Subprocessor.status == "active")
        .order_by(Subprocessor.legal_name)
    )
    keys = (
        "legal_name",
        "registration_id",
        "address",
        "country",
        "activities",
        "data_categories",
        "hosting_locations",
        "transfer_mechanism",
    )
    return [{k: sub_out(r)[k] for k in keys} for r in rows]


# -- clients' contracts and windows -----------------------------------------------------------

_TERMS_CACHE: dict[str, ContractTerms] = {}  # by terms JSON: a preset's clients share one


class ClientTerms:
    """One affected client's active contract, its current terms and their version."""

    __slots__ = ("client_id", "contract_id", "terms", "version")

    def __init__(
        self, client_id: str, contract_id: str, version: int, terms: ContractTerms
    ) -> None:
        self.client_id = client_id
        self.contract_id = contract_id
        self.version = version
        self.terms = terms


def _parse_terms(text: str) -> ContractTerms:
    """Typed terms from their stored JSON (raises ``TermsError``), parsed once per text."""
    terms = _TERMS_CACHE.get(text)
    if terms is None:
        terms = load_terms(json.loads(text))
        if len(_TERMS_CACHE) > 1000:
            _TERMS_CACHE.clear()
        _TERMS_CACHE[text] = terms
    return terms


async def clients_terms(client_ids: Sequence[str]) -> dict[str, ClientTerms | rules.RuleError]:
    """Each client's latest active contract's current terms (or why there is none), in two
    queries for any number of clients (``contracts.active_contracts_by_client``)."""
    by_client = await contracts.active_contracts_by_client(client_ids)
    found: dict[str, ClientTerms | rules.RuleError] = {}
    for client_id in client_ids:
        active = sorted(by_client.get(client_id, ()), key=lambda r: r["id"])
        if not active:
            found[client_id] = rules.RuleError(
                client_id, "no-active-contract", "the client has no active contract", "client_ids"
            )
            continue
        contract = active[-1]
        try:
            terms = _parse_terms(contract["terms_json"])
        except TermsError as exc:
            found[client_id] = rules.RuleError(client_id, "invalid-terms", str(exc), "client_ids")
            continue
        found[client_id] = ClientTerms(
            client_id, contract["id"], contract["current_version"], terms
        )
    return found


async def client_terms(client_id: str) -> ClientTerms | rules.RuleError:
    """The client's latest active contract's terms (or why there is none)."""
    return (await clients_terms([client_id]))[client_id]


_WINDOW_CACHE: dict[tuple[Any, ...], Deadline] = {}


def window_for(start: datetime, terms: ContractTerms) -> Deadline:
    """Memoised per start and terms: a fan-out to many clients computes each window once."""
    term = terms.objection_window
    key = (start, effective_duration(term), terms.time_zone, terms.calendar, term.extend)
    window = _WINDOW_CACHE.get(key)
    if window is None:
        if len(_WINDOW_CACHE) > 10_000:
            _WINDOW_CACHE.clear()
        window = _WINDOW_CACHE[key] = rules.objection_window(start, terms)
    return window


_FR_UNITS = {
    "hours": ("heure", "heures"),
    "calendar_days": ("jour", "jours"),
    "business_days": ("jour ouvré", "jours ouvrés"),
    "working_days": ("jour ouvrable", "jours ouvrables"),
    "months": ("mois", "mois"),
    "business_hours": ("heure ouvrée", "heures ouvrées"),
}


def duration_words(text: str) -> dict[str, str]:
    """``{"en": "1 month", "fr": "1 mois"}`` for the notice templates."""
    parsed = parse_duration(text)
    singular, plural = _FR_UNITS.get(parsed.unit.value, (str(parsed.unit.value),) * 2)
    word = singular if parsed.amount == 1 else plural
    return {"en": str(parsed), "fr": f"{parsed.amount} {word}"}


# -- changes: drafting ------------------------------------------------------------------------


def change_facts(
    change: dict[str, Any], sub: dict[str, Any], old: dict[str, Any] | None
) -> dict[str, Any]:
    """What the written notice states (seed 004 DPA i-iii), frozen at publication."""
    return {
        "change_id": change["id"],
        "kind": change["kind"],
        "summary": change["summary"],
        "activities": _loads(change["activities"], []),
        "data_categories": _loads(change["data_categories"], []),
        "hosting_locations": _loads(change["hosting_locations"], []),
        "transfer_mechanism": change["transfer_mechanism"],
        "outside_eea": rules.outside_eea(sub["country"], _loads(change["hosting_locations"], [])),
        "effective_date": change["effective_date"].isoformat(),
        "subprocessor": {
            "id": sub["id"],
            "legal_name": sub["legal_name"],
            "registration_id": sub["registration_id"] or "",
            "address": sub["address"],
            "country": sub["country"],
            "contact": sub["contact"],
        },
        "replaces": (
            {"id": old["id"], "legal_name": old["legal_name"], "country": old["country"]}
            if old
            else None
        ),
    }


def _notice_gaps(change: dict[str, Any], sub: dict[str, Any]) -> list[tuple[str, str]]:
    return rules.notice_content_errors(
        {
            "activities": _loads(change["activities"], []),
            "legal_name": sub["legal_name"],
            "address": sub["address"],
            "country": sub["country"],
            "contact": sub["contact"],
            "effective_date": change["effective_date"],
        }
    )


async def _open_users(sub_id: str) -> list[str]:
    a = SubprocessorAssignment
    rows = await a.select(a.client_id).where((a.subprocessor == sub_id) & a.valid_to.is_null())
    return list(dict.fromkeys(r["client_id"] for r in rows))


async def affected_clients(change: dict[str, Any]) -> list[str]:
    """The DPO's explicit list, else the clients that use the sub-processor concerned now."""
    explicit = _loads(change["client_ids"], [])
    if explicit:
        return list(dict.fromkeys(explicit))
    if change["kind"] == "add":
        return []
    concerned = change["replaces"] if change["kind"] == "replace" else change["subprocessor"]
    in_registers = await registers.clients_using_subprocessor(concerned)
    return list(dict.fromkeys([*await _open_users(concerned), *in_registers]))


async def check_windows(
    change_id: str | None,
    client_ids: Sequence[str],
    effective_date: date,
    now: datetime,
    sub_country: str,
    locations: Sequence[str],
) -> tuple[list[ClientTerms], list[rules.RuleError]]:
    """Each client's terms, and every refusal: no contract, a transfer its contract forbids,
    or an effective date before its window can end (estimated from ``now`` before receipt,
    from the recorded receipt after it)."""
    received: dict[str, dict[str, Any]] = {}
    if change_id:
        c = SubprocessorChangeClient
        for row in await c.select(c.client_id, c.window_due, c.received_at).where(
            (c.change == change_id) & c.received_at.is_not_null()
        ):
            received[row["client_id"]] = row
    found: list[ClientTerms] = []
    errors: list[rules.RuleError] = []
    terms = await clients_terms(client_ids)
    for client_id in client_ids:
        result = terms[client_id]
        if isinstance(result, rules.RuleError):
            errors.append(result)
            continue
        found.append(result)
        prohibited = rules.transfers_prohibited_error(
            client_id, result.terms, sub_country, locations
        )
        if prohibited:
            errors.append(prohibited)
        row = received.get(client_id)
        start = row["received_at"] if row else now
        window = window_for(start, result.terms)
        error = rules.effective_date_error(client_id, effective_date, window, estimated=not row)
        if error:
            errors.append(error)
    return found, errors


async def _validate_change_shape(
    kind: str,
    sub: dict[str, Any],
    old: dict[str, Any] | None,
    activities: list[str],
    locations: list[str],
    mechanism: str | None,
) -> None:
    if sub["status"] == "retired":
        raise Conflict("the sub-processor is retired", field="subprocessor_id", rule="retired")
    if kind == "replace":
        if old is None:
            raise ValidationProblem(
                "a replacement names the sub-processor it replaces",
                field="replaces_id",
                rule="required",
            )
        if old["id"] == sub["id"]:
            raise ValidationProblem(
                "a sub-processor cannot replace itself", field="replaces_id", rule="distinct"
            )
        if old["status"] != "active":
            raise Conflict(
                "only an active sub-processor can be replaced", field="replaces_id", rule="active"
            )
    elif old is not None:
        raise ValidationProblem(
            "replaces_id is only for a 'replace' change", field="replaces_id", rule="kind"
        )
    if kind in {"remove", "relocate", "activities"} and sub["status"] != "active":
        raise Conflict(
            f"a '{kind}' change concerns an active sub-processor",
            field="subprocessor_id",
            rule="active",
        )
    if kind == "relocate" and locations == _loads(sub["hosting_locations"], []):
        raise ValidationProblem(
            "a relocation states the new hosting locations",
            field="hosting_locations",
            rule="changed",
        )
    if kind == "activities" and activities == _loads(sub["activities"], []):
        raise ValidationProblem(
            "a change of activities states the new activities", field="activities", rule="changed"
        )
    _check_countries(locations, "hosting_locations")
    _check_transfer(sub["country"], locations, mechanism)


def _draft_values(data: ChangeIn | ChangePatch, sub: dict[str, Any]) -> dict[str, Any]:
    return {
        "activities": data.activities
        if data.activities is not None
        else _loads(sub["activities"], []),
        "data_categories": data.data_categories
        if data.data_categories is not None
        else _loads(sub["data_categories"], []),
        "hosting_locations": data.hosting_locations
        if data.hosting_locations is not None
        else _loads(sub["hosting_locations"], []),
        "transfer_mechanism": data.transfer_mechanism
        if data.transfer_mechanism is not None
        else sub["transfer_mechanism"],
    }


async def _validate_clients(client_ids: list[str]) -> None:
    for index, client_id in enumerate(client_ids):
        if not is_valid_id(client_id, "cli"):
            raise ValidationProblem(
                f"client {client_id} not found", field=f"client_ids[{index}]", rule="known-client"
            )
    await _require_clients(client_ids)


#: Kinds whose change may name the register activities the sub-processor will serve.
ACTIVITY_KINDS = frozenset({"add", "replace", "activities"})


async def _validate_activity_ids(kind: str, activity_ids: list[str]) -> None:
    """Each named register activity must exist and be active when the change is drafted,
    edited and published, so the notice never promises an entry that is not there; one 422
    names every bad id (``activity_ids[i]``)."""
    if not activity_ids:
        return
    if kind not in ACTIVITY_KINDS:
        raise ValidationProblem(
            f"a '{kind}' change does not name register activities: only "
            + ", ".join(f"'{k}'" for k in sorted(ACTIVITY_KINDS))
            + " changes do",
            field="activity_ids",
            rule="kind",
        )
    statuses = await registers.activity_statuses(activity_ids)
    errors = []
    for index, activity_id in enumerate(activity_ids):
        status = statuses.get(activity_id)
        if status is None:
            errors.append(("known-activity", f"processing activity {activity_id} not found", index))
        elif status != "active":
            errors.append(
                ("active-activity", f"processing activity {activity_id} is {status}", index)
            )
    if errors:
        rule, detail, _ = errors[0]
        raise ValidationProblem(
            detail if len(errors) == 1 else f"{len(errors)} problems; first: {detail}",
            field="activity_ids",
            rule=rule,
            extra={
                "errors": [
                    {"field": f"activity_ids[{i}]", "rule": r, "detail": d} for r, d, i in errors
                ]
            },
        )


async def _check_draft(
    change: dict[str, Any], now: datetime
) -> tuple[list[str], list[ClientTerms]]:
    """Every rule a draft must meet; returns the affected clients and their terms."""
    sub = await _sub_row(change["subprocessor"])
    old = await _sub_row(change["replaces"], "replaces_id") if change["replaces"] else None
    activities = _loads(change["activities"], [])
    locations = _loads(change["hosting_locations"], [])
    await _validate_change_shape(
        change["kind"], sub, old, activities, locations, change["transfer_mechanism"]
    )
    await _validate_activity_ids(change["kind"], _loads(change["activity_ids"], []))
    gaps = _notice_gaps(change, sub)
    if gaps:
        raise ValidationProblem(gaps[0][1], field=gaps[0][0], rule="notice-content")
    clients = await affected_clients(change)
    if not clients:
        raise ValidationProblem(
            "the change affects no client: list client_ids, or the sub-processor concerned "
            "has no client",
            field="client_ids",
            rule="no-affected-client",
        )
    found, errors = await check_windows(
        change["id"] if change["status"] != "draft" else None,
        clients,
        change["effective_date"],
        now,
        sub["country"],
        locations,
    )
    if errors:
        raise _refuse(ValidationProblem, errors)
    return clients, found


async def create_change(data: ChangeIn, actor: str, now: datetime) -> dict[str, Any]:
    sub = await _sub_row(data.subprocessor_id)
    await _validate_clients(data.client_ids)
    values = _draft_values(data, sub)
    change = {
        "id": new_id("spc"),
        "kind": data.kind,
        "subprocessor": sub["id"],
        "replaces": data.replaces_id,
        "activities": _dumps(values["activities"]),
        "data_categories": _dumps(values["data_categories"]),
        "hosting_locations": _dumps(values["hosting_locations"]),
        "transfer_mechanism": values["transfer_mechanism"],
        "effective_date": data.effective_date,
        "summary": data.summary,
        "client_ids": _dumps(list(dict.fromkeys(data.client_ids))),
        "activity_ids": _dumps(list(dict.fromkeys(data.activity_ids))),
        "status": "draft",
        "facts_json": "{}",
        "created_at": now,
        "created_by": actor,
    }
    if data.replaces_id is not None:
        await _sub_row(data.replaces_id, "replaces_id")
    clients, _ = await _check_draft(change, now)
    async with db.transaction():
        await SubprocessorChange.insert(SubprocessorChange(**change))
        await trail.append(
            now=now,
            actor=actor,
            action="subprocessor.change.drafted",
            subject_type="subprocessor_change",
            subject_id=change["id"],
            after={k: v for k, v in change.items() if k != "client_ids"},
            details={
                "kind": data.kind,
                "subprocessor_id": sub["id"],
                "effective_date": data.effective_date.isoformat(),
                "clients": len(clients),
            },
        )
    return await get_change(change["id"], now)


async def _change_row(change_id: str, *, lock: bool = False) -> dict[str, Any]:
    """The change; with ``lock`` (inside a transaction), held ``FOR UPDATE`` on PostgreSQL so
    steps that move its status (activate, abandon) run one after the other. SQLite's write
    transactions are serial already."""
    row = None
    if is_valid_id(change_id, "spc"):
        query = SubprocessorChange.select().where(SubprocessorChange.id == change_id).first()
        row = await (query.lock_rows("UPDATE") if lock and db.is_postgres() else query)
    if row is None:
        raise NotFound(f"sub-processor change {change_id} not found", field="change_id")
    return row


async def update_change(
    change_id: str, patch: ChangePatch, actor: str, now: datetime
) -> dict[str, Any]:
    change = await _change_row(change_id)
    fields = {f for f in patch.__struct_fields__ if getattr(patch, f) is not None}
    if not fields:
        raise ValidationProblem("nothing to change", field="body", rule="non-empty-patch")
    if change["status"] in {"abandoned", "completed"}:
        raise Conflict(f"the change is {change['status']}", rule="closed")
    if change["status"] == "published":
        if fields - {"effective_date"}:
            raise Conflict(
                "after publication only the effective date can be moved (later); draft a new "
                "change for anything else",
                field=sorted(fields - {"effective_date"})[0],
                rule="published",
            )
        if patch.effective_date is not None and patch.effective_date < change["effective_date"]:
            raise ValidationProblem(
                "a notified effective date can only be postponed",
                field="effective_date",
                rule="postpone-only",
            )
    updated = dict(change)
    if patch.effective_date is not None:
        updated["effective_date"] = patch.effective_date
    if patch.summary is not None:
        updated["summary"] = patch.summary
    if patch.client_ids is not None:
        await _validate_clients(patch.client_ids)
        updated["client_ids"] = _dumps(list(dict.fromkeys(patch.client_ids)))
    if patch.activity_ids is not None:
        updated["activity_ids"] = _dumps(list(dict.fromkeys(patch.activity_ids)))
    for key in ("activities", "data_categories", "hosting_locations"):
        if getattr(patch, key) is not None:
            updated[key] = _dumps(getattr(patch, key))
    if patch.transfer_mechanism is not None:
        updated["transfer_mechanism"] = patch.transfer_mechanism
    if change["status"] == "published":
        sub = await _sub_row(change["subprocessor"])
        clients = [r["client_id"] for r in await _client_rows(change_id) if _applies(r)]
        _, errors = await check_windows(
            change_id,
            clients,
            updated["effective_date"],
            now,
            sub["country"],
            _loads(change["hosting_locations"], []),
        )
        errors = [e for e in errors if e.rule == "effective-date-before-window-end"]
        if errors:
            raise _refuse(ValidationProblem, errors)
    else:
        await _check_draft(updated, now)
    columns = {
        getattr(SubprocessorChange, key): updated[key]
        for key in (
            "effective_date",
            "summary",
            "client_ids",
            "activity_ids",
            "activities",
            "data_categories",
            "hosting_locations",
            "transfer_mechanism",
        )
    }
    async with db.transaction():
        await SubprocessorChange.update(columns).where(SubprocessorChange.id == change_id)
        await trail.append(
            now=now,
            actor=actor,
            action="subprocessor.change.updated"
            if change["status"] == "draft"
            else "subprocessor.change.postponed",
            subject_type="subprocessor_change",
            subject_id=change_id,
            before={k: str(v) for k, v in change.items()},
            after={k: str(v) for k, v in updated.items()},
            details={"fields": sorted(fields), "effective_date": str(updated["effective_date"])},
        )
    return await get_change(change_id, now)


# -- changes: publication ---------------------------------------------------------------------


async def _register_titles(change: dict[str, Any]) -> list[tuple[dict[str, str], set[str]]]:
    """The register activities the change names that are active, each with its reference and
    name and the clients it is carried out for: what each client's notice lists of its own."""
    named = list(dict.fromkeys(_loads(change.get("activity_ids"), [])))
    if not named:
        return []
    versions = await registers.versions_as_of(named, None)
    contents = {a: json.loads(versions[a]["data_json"]) for a in named if a in versions}
    active = [a for a, content in contents.items() if content.get("status") == "active"]
    served = await registers.clients_of(active)
    return [
        (
            {"id": a, "reference": contents[a]["reference"], "name": contents[a]["name"]},
            set(served.get(a, [])),
        )
        for a in active
    ]


def _client_facts(
    base: dict[str, Any],
    ct: ClientTerms,
    client_id: str,
    change_id: str,
    register_titles: Sequence[tuple[dict[str, str], set[str]]] = (),
    objections: dict[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The notice's facts for one client: the change's, its own objection terms, and only its
    own register entries among those the change names (never another client's).

    ``objections`` remembers the objection terms per terms object across one batch: clients
    on one preset share it (their terms are parsed once per text)."""
    terms = (objections if objections is not None else {}).get(id(ct.terms))
    if terms is None:
        terms = _objection_terms(ct.terms)
        if objections is not None:
            objections[id(ct.terms)] = terms
    base_url = get_settings().public_base_url.rstrip("/")
    return {
        **base,
        "register_activities": [t for t, clients in register_titles if client_id in clients],
        "objection": {
            **terms,
            "url": f"{base_url}/api/v1/clients/{client_id}/subprocessor-changes/{change_id}"
            "/objection",
        },
    }


def _objection_terms(terms: ContractTerms) -> dict[str, Any]:
    term = terms.objection_window
    return {
        "window": duration_words(effective_duration(term)),
        "from": "receipt",
        "extended_to_working_day": term.extend,
        "clause": rules.window_clause(terms),
        "in_writing_with_reasons": True,
        "silence_means_acceptance": rules.silence_means_acceptance(terms),
        "time_zone": terms.time_zone,
    }


#: A fresh state row's columns that only later events fill: named, so the bulk insert takes
#: every column as given (the 10,000-row publication's conversion cost, otherwise).
_NOT_YET: dict[str, Any] = dict.fromkeys(
    (
        "received_at",
        "receipt_method",
        "window_due",
        "window_display",
        "window_explanation",
        "accepted_at",
        "accepted_how",
        "resolution",
        "resolved_at",
        "activated_at",
    )
)


async def publish_change(change_id: str, actor: str, now: datetime) -> dict[str, Any]:
    """Publish the change to every affected client, and only those: one state row each, and
    their written notices, queued here for a small fan-out (≤ :data:`INLINE_FAN_OUT` clients)
    or by ``subprocessor.notify_batch`` jobs enqueued in this transaction otherwise."""
    async with db.reading():
        change = await _change_row(change_id)
        if change["status"] != "draft":
            raise Conflict(f"the change is {change['status']}, not a draft", rule="draft-only")
        _, found = await _check_draft(change, now)
        unreachable = await notifications.clients_without_recipient([ct.client_id for ct in found])
        sub = await _sub_row(change["subprocessor"])
        old = await _sub_row(change["replaces"]) if change["replaces"] else None
    if unreachable:
        raise _refuse(
            ValidationProblem,
            [
                rules.RuleError(
                    client_id,
                    "no-recipient",
                    f"client {client_id} has no contact that receives notices and no active "
                    "webhook endpoint: the written notice would reach nobody",
                    "client_ids",
                )
                for client_id in unreachable
            ],
        )
    facts = change_facts(change, sub, old)
    rows = [
        {
            **_NOT_YET,
            "id": new_id("spk"),
            "change": change_id,
            "client_id": ct.client_id,
            "contract_id": ct.contract_id,
            "time_zone": ct.terms.time_zone,
            "notice_id": None,
            "state": "pending",
            "notified_at": now,
            "estimated_window_due": window_for(now, ct.terms).due,
            "terms_version": ct.version,
            "window_duration": effective_duration(ct.terms.objection_window),
            "updated_at": now,
        }
        for ct in found
    ]
    client_ids = [r["client_id"] for r in rows]
    inline = len(rows) <= INLINE_FAN_OUT
    batches = [list(b) for b in _chunks(client_ids, NOTIFY_BATCH)]
    async with db.transaction():
        current = await _change_row(change_id)
        if current["status"] != "draft":
            raise Conflict(f"the change is {current['status']}, not a draft", rule="draft-only")
        await SubprocessorChange.update(
            {
                SubprocessorChange.status: "published",
                SubprocessorChange.published_at: now,
                SubprocessorChange.facts_json: _dumps(facts),
            }
        ).where(SubprocessorChange.id == change_id)
        await insert_rows(SubprocessorChangeClient, rows)
        # before the trail's lock: the statistics commit with the rows, so the notice jobs
        # plan with them; a VACUUM on the table delays it 1 s at most (bulk.py)
        await analyze_after_bulk(SubprocessorChangeClient, len(rows))
        await trail.append(
            now=now,
            actor=actor,
            action="subprocessor.change.published",
            subject_type="subprocessor_change",
            subject_id=change_id,
            after=facts,
            details={
                "kind": change["kind"],
                "subprocessor_id": sub["id"],
                "effective_date": change["effective_date"].isoformat(),
                "clients": len(rows),
                "clients_digest": _digest(client_ids),
                "notices": "inline" if inline else f"{len(batches)} job(s)",
            },
        )
        if inline:
            await _notify({**current, "facts_json": _dumps(facts)}, client_ids, actor, now)
        else:
            for number, batch in enumerate(batches):
                await enqueue(
                    NOTIFY_JOB,
                    {"change_id": change_id, "batch": number, "client_ids": batch, "actor": actor},
                    run_at=now,
                    dedupe_key=f"{NOTIFY_JOB}:{change_id}:{number}",
                )
    async with db.reading():
        return await get_change(change_id, now)


async def _terms_as_published(rows: Sequence[dict[str, Any]]) -> dict[str, ClientTerms]:
    """Each state row's terms as recorded at publication (contract and terms version), read
    by version: a contract amended or ended since still gets the terms it was notified under."""
    pairs = [(r["contract_id"], r["terms_version"]) for r in rows]
    texts = await contracts.terms_texts(pairs)
    found: dict[str, ClientTerms] = {}
    for row, pair in zip(rows, pairs, strict=True):
        if pair not in texts:
            raise NotFound(f"terms version {pair[1]} of contract {pair[0]} not found")
        terms = _parse_terms(texts[pair])
        found[row["id"]] = ClientTerms(row["client_id"], row["contract_id"], pair[1], terms)
    return found


async def _link_notices(pairs: Sequence[tuple[str, str]], now: datetime) -> int:
    """Set each state row's notice (``pending`` becomes ``notified``) where none is linked
    yet; returns how many rows this call linked.

    PostgreSQL takes the pairs as one JSON parameter in an ``UPDATE ... FROM``; SQLite would
    drive that join from the table (a JSON scan per row, 40× slower), so it runs one
    primary-key update per pair, prepared once.
    """
    c = SubprocessorChangeClient
    linked = 0
    for chunk in _chunks(pairs):
        if db.is_postgres():
            done = await c.raw(
                "UPDATE subprocessor_change_client AS t SET notice_id = v.notice, "
                "state = CASE WHEN t.state = 'pending' THEN 'notified' ELSE t.state END, "
                "notified_at = {}, updated_at = {} FROM (SELECT j->>0 AS row_id, j->>1 AS notice "
                "FROM json_array_elements({}::json) j) AS v "
                "WHERE t.id = v.row_id AND t.notice_id IS NULL RETURNING id",
                now,
                now,
                json.dumps(list(chunk)),
            )
            linked += len(done)
            continue
        linked += await sqlite_execute_many(
            c,
            "UPDATE subprocessor_change_client SET notice_id = ?, "
            "state = CASE WHEN state = 'pending' THEN 'notified' ELSE state END, "
            "notified_at = ?, updated_at = ? WHERE id = ? AND notice_id IS NULL",
            [(notice, now, now, row_id) for row_id, notice in chunk],
        )
    return linked


async def _unnotified(
    change_id: str, client_ids: Sequence[str], *, lock: bool = False
) -> list[dict[str, Any]]:
    """The state rows of these clients that have no notice yet and that the change applies to.

    ``lock`` (inside a transaction): on PostgreSQL the rows are locked ``FOR UPDATE``, so a
    second worker on the same batch waits for the first to commit and then finds them linked
    (SQLite's write lock already serialises the transactions)."""
    c = SubprocessorChangeClient
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(client_ids):
        query = (
            c.select(c.id, c.client_id, c.contract_id, c.terms_version, c.resolution)
            .where((c.change == change_id) & where_in(c.client_id, chunk) & c.notice_id.is_null())
            .order_by(c.id)
        )
        rows.extend(await (query.lock_rows("UPDATE") if lock and db.is_postgres() else query))
    return [r for r in rows if _applies(r)]


async def _prepare_notices(
    change: dict[str, Any], rows: Sequence[dict[str, Any]], actor: str, now: datetime
) -> list[notifications.PreparedNotice]:
    """These state rows' notices, rendered and hashed (reads only)."""
    facts = _loads(change["facts_json"], {})
    terms = await _terms_as_published(rows)
    titles = await _register_titles(change)
    objections: dict[int, dict[str, Any]] = {}  # the terms objects stay alive in ``terms``
    return await notifications.prepare_notices(
        [
            notifications.NoticeRequest(
                client_id=r["client_id"],
                kind=NOTICE_KIND,
                subject_type="subprocessor_change",
                subject_id=change["id"],
                facts=_client_facts(
                    facts, terms[r["id"]], r["client_id"], change["id"], titles, objections
                ),
            )
            for r in rows
        ],
        now=now,
        actor=actor,
    )


async def _write_notices(
    change_id: str,
    pending: Sequence[tuple[dict[str, Any], notifications.PreparedNotice]],
    actor: str,
    now: datetime,
) -> int:
    """Write prepared notices and link each to its state row, inside the caller's transaction;
    a row linked meanwhile by another worker rolls the whole attempt back."""
    refs = await notifications.write_notices([p for _, p in pending], now=now, actor=actor)
    pairs = [(r["id"], ref.notice_id) for (r, _), ref in zip(pending, refs, strict=True)]
    linked = await _link_notices(pairs, now)
    if linked != len(pending):  # another worker linked some meanwhile: roll this attempt back
        raise Conflict("these clients were notified concurrently", rule="concurrent-fan-out")
    await trail.append(
        now=now,
        actor=actor,
        action="subprocessor.change.notified",
        subject_type="subprocessor_change",
        subject_id=change_id,
        details={
            "clients": len(pending),
            "clients_digest": _digest(r["client_id"] for r, _ in pending),
            "notices_digest": _digest(ref.notice_id for ref in refs),
        },
    )
    return len(pending)


async def _notify(
    change: dict[str, Any], client_ids: Sequence[str], actor: str, now: datetime
) -> int:
    """Queue the notices of these clients that have none yet and link them to their state rows
    (inside the caller's transaction); returns how many were queued."""
    rows = await _unnotified(change["id"], client_ids)
    if not rows:
        return 0
    prepared = await _prepare_notices(change, rows, actor, now)
    return await _write_notices(change["id"], list(zip(rows, prepared, strict=True)), actor, now)


async def _published_change(change_id: str) -> dict[str, Any] | None:
    change = await SubprocessorChange.select().where(SubprocessorChange.id == change_id).first()
    return change if change is not None and change["status"] == "published" else None


async def notify_batch(change_id: str, client_ids: Sequence[str], actor: str, now: datetime) -> int:
    """The fan-out job: one batch of a published change's notices.

    The notices are rendered before the write transaction, so workers on both cores render
    at once while one of them writes (SQLite has one writer); the transaction then writes
    only the clients still unnotified and still concerned, read again under its lock (their
    notices as rendered a moment before, as if the job had run then). Safe to run again after
    a crash (clients already linked to a notice are skipped) and a no-op once
    the change is abandoned or the clients are excluded."""
    async with db.reading():
        change = await _published_change(change_id)
        rows = await _unnotified(change_id, client_ids) if change else []
        if change is None or not rows:
            return 0
        notices = await _prepare_notices(change, rows, actor, now)
    prepared = {r["id"]: p for r, p in zip(rows, notices, strict=True)}
    async with db.transaction():
        if await _published_change(change_id) is None:
            return 0
        still = await _unnotified(change_id, client_ids, lock=True)
        pending = [(r, prepared[r["id"]]) for r in still if r["id"] in prepared]
        written = await _write_notices(change_id, pending, actor, now) if pending else 0
        await complete_in_transaction()  # the job ends with its notices (jobs/queue.py)
        return written


# -- receipts and windows ---------------------------------------------------------------------


async def _client_rows(change_id: str) -> list[dict[str, Any]]:
    c = SubprocessorChangeClient
    return await c.select().where(c.change == change_id).order_by(c.id)


async def _client_row(change_id: str, client_id: str) -> dict[str, Any]:
    c = SubprocessorChangeClient
    row = await c.select().where((c.change == change_id) & (c.client_id == client_id)).first()
    if row is None:
        raise NotFound(f"change {change_id} does not concern client {client_id}", field="client_id")
    return row


def _applies(row: dict[str, Any]) -> bool:
    return row["resolution"] not in rules.EXCLUDING_RESOLUTIONS


async def on_notice_received(notice: dict[str, Any], received_at: datetime) -> None:
    """Receipt hook (notifications): start the client's window. Runs inside the transaction
    that records the notice's first receipt; idempotent."""
    c = SubprocessorChangeClient
    row = await c.select().where(c.notice_id == notice["id"]).first()
    if row is None or row["received_at"] is not None:
        return
    ct = await client_terms(row["client_id"])
    if isinstance(ct, rules.RuleError):
        raise Conflict(ct.detail, field="client_id", rule=ct.rule)
    window = rules.objection_window(received_at, ct.terms)
    change = await _change_row(row["change"])
    earliest = rules.earliest_effective_date(window)
    state = "received" if row["state"] == "notified" else row["state"]
    await c.update(
        {
            c.received_at: received_at,
            c.receipt_method: (await notifications.get_notice(notice["id"]))["receipt_method"],
            c.window_due: window.due,
            c.window_display: window.display,
            c.window_explanation: _dumps(window.explanation),
            c.window_duration: effective_duration(ct.terms.objection_window),
            c.terms_version: ct.version,
            c.contract_id: ct.contract_id,
            c.time_zone: ct.terms.time_zone,
            c.state: state,
            c.updated_at: received_at,
        }
    ).where(c.id == row["id"])
    await enqueue(
        WINDOW_JOB,
        {"change_client_id": row["id"]},
        run_at=window.due + _TINY,
        dedupe_key=f"{WINDOW_JOB}:{row['id']}",
    )
    await trail.append(
        now=received_at,
        actor="system:subprocessors",
        action="subprocessor.change.received",
        subject_type="subprocessor_change",
        subject_id=row["change"],
        client_id=row["client_id"],
        details={
            "notice_id": notice["id"],
            "received_at": utc_iso(received_at),
            "window_due": utc_iso(window.due),
            "window_display": window.display,
            "terms_version": ct.version,
            "contract_id": ct.contract_id,
            "earliest_effective_date": earliest.isoformat(),
            "effective_date_ok": change["effective_date"] >= earliest,
        },
    )


notifications.register_receipt_hook(NOTICE_KIND, on_notice_received)
# The one fact that differs between the clients of a change with the same terms: a fan-out
# renders each group of such clients once (notifications/slots.py).
slots.declare_fact_slots(NOTICE_KIND, ["objection.url"])


async def record_receipt(
    change_id: str,
    client_id: str,
    received_at: datetime,
    evidence: str | None,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """The DPO records a receipt (an acknowledgement, a signed delivery slip…)."""
    received_at = check_input_date(received_at, "received_at")
    if received_at > now:
        raise ValidationProblem("received_at is in the future", field="received_at", rule="past")
    change = await _change_row(change_id)
    row = await _client_row(change_id, client_id)
    if received_at < change["published_at"]:
        raise ValidationProblem(
            "received_at is before the notice was sent", field="received_at", rule="after-notice"
        )
    if row["received_at"] is not None:
        raise Conflict(
            f"receipt already recorded at {utc_iso(row['received_at'])}",
            field="received_at",
            rule="first-receipt-counts",
        )
    if row["notice_id"] is None:
        raise Conflict(
            "the notice to this client is still being queued; record its receipt once it is",
            field="client_id",
            rule="notice-pending",
        )
    async with db.transaction():
        await notifications.record_receipt(
            row["notice_id"],
            received_at=received_at,
            method="dpo_entry",
            actor=actor,
            now=now,
            evidence=evidence,
        )
    return await client_change_view(change_id, client_id, now)


async def close_window(change_client_id: str, now: datetime) -> bool:
    """At window close: silence means acceptance. Idempotent; True when it changed a state."""
    c = SubprocessorChangeClient
    async with db.transaction():
        row = await c.select().where(c.id == change_client_id).first()
        if row is None or row["window_due"] is None or now <= row["window_due"]:
            return False
        if row["state"] != "received":
            return False
        await c.update(
            {
                c.state: "accepted",
                c.accepted_at: row["window_due"],
                c.accepted_how: "silence",
                c.updated_at: now,
            }
        ).where((c.id == change_client_id) & (c.state == "received"))
        await trail.append(
            now=now,
            actor="system:subprocessors",
            action="subprocessor.change.accepted",
            subject_type="subprocessor_change",
            subject_id=row["change"],
            client_id=row["client_id"],
            details={"how": "silence", "window_due": utc_iso(row["window_due"])},
        )
    return True


# -- objections and acceptance ----------------------------------------------------------------


def objection_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "change_id": row["change_id"],
        "client_id": row["client_id"],
        "reasons": row["reasons"],
        "objected_at": utc_iso(row["objected_at"]),
        "channel": row["channel"],
        "late": row["late"],
        "status": row["status"],
        "resolution": row["resolution"],
        "resolution_note": row["resolution_note"],
        "resolved_at": utc_iso(row["resolved_at"]),
    }


async def _published(change_id: str) -> dict[str, Any]:
    change = await _change_row(change_id)
    if change["status"] == "draft":
        raise NotFound(f"sub-processor change {change_id} not found", field="change_id")
    return change


async def object_to_change(
    change_id: str,
    client_id: str,
    reasons: str,
    objected_at: datetime | None,
    channel: str,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """A written objection with reasons; after the window it is kept, flagged late, and does
    not block the change."""
    error = rules.reasons_error(reasons)
    if error:
        raise ValidationProblem(error, field="reasons", rule="objection-reasons")
    at = now
    if objected_at is not None:
        at = check_input_date(objected_at, "received_at")
        if at > now:
            raise ValidationProblem(
                "received_at is in the future", field="received_at", rule="past"
            )
    change = await _published(change_id)
    row = await _client_row(change_id, client_id)
    if change["status"] == "abandoned" or not _applies(row):
        raise Conflict("the change no longer applies to this client", rule="excluded")
    if at < change["published_at"]:
        raise ValidationProblem(
            "an objection cannot predate the notice", field="received_at", rule="after-notice"
        )
    late = rules.objection_is_late(at, row["window_due"])
    o = SubprocessorObjection
    async with db.transaction():
        open_ = await o.count().where((o.change_client == row["id"]) & (o.status == "open"))
        if open_ and not late:
            raise Conflict(
                "an objection is already open for this change", rule="objection-already-open"
            )
        objection_id = new_id("obj")
        await o.insert(
            o(
                id=objection_id,
                change_client=row["id"],
                change_id=change_id,
                client_id=client_id,
                reasons=reasons.strip(),
                objected_at=at,
                channel=channel,
                recorded_by=actor,
                late=late,
                status="late" if late else "open",
                created_at=now,
            )
        )
        c = SubprocessorChangeClient
        if not late and row["state"] in {"pending", "notified", "received", "accepted"}:
            await c.update(
                {c.state: "objected", c.accepted_at: None, c.accepted_how: None, c.updated_at: now}
            ).where(c.id == row["id"])
        await trail.append(
            now=now,
            actor=actor,
            action="subprocessor.objection.recorded",
            subject_type="subprocessor_change",
            subject_id=change_id,
            client_id=client_id,
            after={"reasons": reasons.strip()},
            details={
                "objection_id": objection_id,
                "objected_at": utc_iso(at),
                "channel": channel,
                "late": late,
                "blocking": not late,
                "window_due": utc_iso(row["window_due"]),
            },
        )
    return objection_out(await o.select().where(o.id == objection_id).first())


async def accept_change(change_id: str, client_id: str, actor: str, now: datetime) -> dict:
    change = await _published(change_id)
    row = await _client_row(change_id, client_id)
    if change["status"] == "abandoned" or not _applies(row):
        raise Conflict("the change no longer applies to this client", rule="excluded")
    if row["state"] not in {"pending", "notified", "received"}:
        raise Conflict(
            f"the change is {row['state']} for this client; an open objection is withdrawn "
            "through the processor's DPO",
            rule="state",
        )
    c = SubprocessorChangeClient
    async with db.transaction():
        await c.update(
            {c.state: "accepted", c.accepted_at: now, c.accepted_how: "explicit", c.updated_at: now}
        ).where((c.id == row["id"]) & c.state.is_in(["pending", "notified", "received"]))
        await trail.append(
            now=now,
            actor=actor,
            action="subprocessor.change.accepted",
            subject_type="subprocessor_change",
            subject_id=change_id,
            client_id=client_id,
            details={"how": "explicit"},
        )
    return await client_change_view(change_id, client_id, now)


async def resolve_objection(
    change_id: str, objection_id: str, data: ResolutionIn, actor: str, now: datetime
) -> dict[str, Any]:
    await _published(change_id)
    o = SubprocessorObjection
    objection = None
    if is_valid_id(objection_id, "obj"):
        objection = (
            await o.select().where((o.id == objection_id) & (o.change_id == change_id)).first()
        )
    if objection is None:
        raise NotFound(f"objection {objection_id} not found", field="objection_id")
    if objection["status"] == "resolved":
        raise Conflict("the objection is already resolved", rule="resolved")
    if data.resolution == "change_abandoned":
        await abandon_change(change_id, data.note or "objection", actor, now, objection_id)
        return objection_out(await o.select().where(o.id == objection_id).first())
    row = await _client_row(change_id, objection["client_id"])
    if row["state"] == "active" and data.resolution in rules.EXCLUDING_RESOLUTIONS:
        raise Conflict(
            "the change is already active for this client; a removal is a new change",
            rule="already-active",
        )
    c = SubprocessorChangeClient
    async with db.transaction():
        await o.update(
            {
                o.status: "resolved",
                o.resolution: data.resolution,
                o.resolution_note: data.note,
                o.resolved_at: now,
            }
        ).where(o.id == objection_id)
        blocking = objection["status"] == "open"
        if blocking or data.resolution in rules.EXCLUDING_RESOLUTIONS:
            await c.update(
                {
                    c.state: "resolved",
                    c.resolution: data.resolution,
                    c.resolved_at: now,
                    c.updated_at: now,
                }
            ).where(c.id == row["id"])
        await trail.append(
            now=now,
            actor=actor,
            action="subprocessor.objection.resolved",
            subject_type="subprocessor_change",
            subject_id=change_id,
            client_id=row["client_id"],
            after={"note": data.note},
            details={
                "objection_id": objection_id,
                "resolution": data.resolution,
                "late": objection["late"],
            },
        )
        if data.resolution == "client_terminates":
            await trail.append(
                now=now,
                actor=actor,
                action="client.termination_requested",
                subject_type="client",
                subject_id=row["client_id"],
                client_id=row["client_id"],
                details={
                    "cause": "objection to a sub-processor change",
                    "change_id": change_id,
                    "objection_id": objection_id,
                },
            )
        await _maybe_complete(change_id, actor, now)
    return objection_out(await o.select().where(o.id == objection_id).first())


async def abandon_change(
    change_id: str, reason: str, actor: str, now: datetime, objection_id: str | None = None
) -> dict[str, Any]:
    c = SubprocessorChangeClient
    o = SubprocessorObjection
    async with db.transaction():
        # Checked inside the transaction, and the status set only if still open: two abandons
        # at once (or an activation landing meanwhile) must not both pass the checks.
        change = await _change_row(change_id, lock=True)
        if change["status"] in {"abandoned", "completed"}:
            raise Conflict(f"the change is already {change['status']}", rule="closed")
        active = await c.count().where((c.change == change_id) & (c.state == "active"))
        if active:
            raise Conflict(
                f"the change is active for {active} client(s): it cannot be abandoned; "
                "draft a 'remove' change instead",
                rule="already-active",
            )
        abandoned = await (
            SubprocessorChange.update(
                {SubprocessorChange.status: "abandoned", SubprocessorChange.abandoned_at: now}
            )
            .where(
                (SubprocessorChange.id == change_id)
                & SubprocessorChange.status.not_in(["abandoned", "completed"])
            )
            .returning(SubprocessorChange.id)
        )
        if not abandoned:
            current = await _change_row(change_id)
            raise Conflict(f"the change is already {current['status']}", rule="closed")
        await c.update(
            {
                c.state: "resolved",
                c.resolution: "change_abandoned",
                c.resolved_at: now,
                c.updated_at: now,
            }
        ).where(c.change == change_id)
        await o.update(
            {
                o.status: "resolved",
                o.resolution: "change_abandoned",
                o.resolved_at: now,
                o.resolution_note: reason,
            }
        ).where((o.change_id == change_id) & o.status.is_in(["open", "late"]))
        await trail.append(
            now=now,
            actor=actor,
            action="subprocessor.change.abandoned",
            subject_type="subprocessor_change",
            subject_id=change_id,
            after={"reason": reason},
            details={"objection_id": objection_id, "was": change["status"]},
        )
    return await get_change(change_id, now)


# -- activation -------------------------------------------------------------------------------


async def _open_objections(change_id: str) -> set[str]:
    o = SubprocessorObjection
    rows = await o.select(o.client_id).where((o.change_id == change_id) & (o.status == "open"))
    return {r["client_id"] for r in rows}


def _position(row: dict[str, Any], objecting: set[str]) -> rules.ClientPosition:
    return rules.ClientPosition(
        client_id=row["client_id"],
        state=row["state"],
        window_due=row["window_due"],
        window_display=row["window_display"],
        open_objection=row["client_id"] in objecting,
        resolution=row["resolution"],
        time_zone=row["time_zone"],
    )


async def activate_change(
    change_id: str, data: ActivationIn, actor: str, now: datetime
) -> dict[str, Any]:
    """Make the change effective for clients whose window closed without open objection.

    With ``client_ids`` every listed client must be eligible, or nothing happens (409 naming
    each refusal); without, every eligible client is activated and the others are reported.
    """
    change = await _change_row(change_id)
    if change["status"] != "published":
        raise Conflict(f"the change is {change['status']}, not published", rule="published-only")
    rows = {r["client_id"]: r for r in await _client_rows(change_id)}
    objecting = await _open_objections(change_id)
    errors: list[rules.RuleError] = []
    eligible: list[dict[str, Any]] = []
    skipped: list[rules.RuleError] = []
    if data.client_ids is not None:
        if not data.client_ids:
            raise ValidationProblem("client_ids is empty", field="client_ids", rule="non-empty")
        for client_id in dict.fromkeys(data.client_ids):
            row = rows.get(client_id)
            if row is None:
                errors.append(
                    rules.RuleError(
                        client_id, "not-affected", "the change does not concern this client"
                    )
                )
                continue
            blockers = rules.activation_blockers(
                _position(row, objecting), change["effective_date"], now
            )
            errors.extend(blockers)
            if not blockers:
                eligible.append(row)
        if errors:
            raise _refuse(Conflict, errors)
    else:
        for row in rows.values():
            if row["state"] == "active" or not _applies(row):
                continue
            blockers = rules.activation_blockers(
                _position(row, objecting), change["effective_date"], now
            )
            if blockers:
                skipped.extend(blockers)
            else:
                eligible.append(row)
        if not eligible:
            if not skipped:
                raise Conflict("no client is left to activate", rule="nothing-to-activate")
            raise _refuse(Conflict, skipped)
    await _apply(change, eligible, rows, actor, now)
    out = await get_change(change_id, now)
    out["activated"] = [r["client_id"] for r in eligible]
    out["not_activated"] = [e.to_dict() for e in skipped]
    return out


async def _apply(
    change: dict[str, Any],
    eligible: list[dict[str, Any]],
    rows: dict[str, dict[str, Any]],
    actor: str,
    now: datetime,
) -> None:
    kind = change["kind"]
    sub_id = change["subprocessor"]
    client_ids = [r["client_id"] for r in eligible]
    activities = _loads(change["activities"], [])
    locations = _loads(change["hosting_locations"], [])
    a = SubprocessorAssignment
    c = SubprocessorChangeClient
    async with db.transaction():
        current = await _change_row(change["id"], lock=True)
        if current["status"] != "published":
            raise Conflict(f"the change is {current['status']}", rule="published-only")
        closing = {
            "replace": change["replaces"],
            "remove": sub_id,
            "relocate": sub_id,
            "activities": sub_id,
            "add": None,
        }[kind]
        for batch in _chunks(client_ids):
            in_batch = where_in(a.client_id, batch) & a.valid_to.is_null()
            if closing:
                await a.update({a.valid_to: now, a.closed_by_change_id: change["id"]}).where(
                    (a.subprocessor == closing) & in_batch
                )
            if kind in {"add", "replace"}:
                # an 'add' to a client already served by the sub-processor restates it
                await a.update({a.valid_to: now, a.closed_by_change_id: change["id"]}).where(
                    (a.subprocessor == sub_id) & in_batch
                )
            if kind != "remove":
                await a.insert(
                    *[
                        a(
                            id=new_id("spa"),
                            client_id=client_id,
                            subprocessor=sub_id,
                            activities=_dumps(activities),
                            hosting_locations=_dumps(locations),
                            valid_from=now,
                            change_id=change["id"],
                        )
                        for client_id in batch
                    ]
                )
            await c.update({c.state: "active", c.activated_at: now, c.updated_at: now}).where(
                (c.change == change["id"]) & where_in(c.client_id, batch)
            )
        register = await _update_register_entries(change, client_ids, activities, actor, now)
        for client_id in client_ids:
            await trail.append(
                now=now,
                actor=actor,
                action="subprocessor.change.activated",
                subject_type="subprocessor_change",
                subject_id=change["id"],
                client_id=client_id,
                details={
                    "kind": kind,
                    "subprocessor_id": sub_id,
                    "replaces_id": change["replaces"],
                    "effective_at": utc_iso(now),
                    "window_due": utc_iso(rows[client_id]["window_due"]),
                    **register.get(client_id, {}),
                },
            )
        await _update_list(change, activities, locations, actor, now)
        await _maybe_complete(change["id"], actor, now)


async def _update_register_entries(
    change: dict[str, Any], client_ids: list[str], activities: list[str], actor: str, now: datetime
) -> dict[str, dict[str, Any]]:
    """The change takes effect on each activated client's Art. 30 entries (Art. 30(2)(a)-(d)):

    - ``remove``: every active entry of the client that lists the sub-processor (activity-wide
      or for that client) stops listing it for that client; other clients keep it until their
      own activation;
    - ``replace``: entries that used the replaced one list the new one instead;
    - ``add``, ``replace``, ``activities``: the change's named ``activity_ids`` list the
      sub-processor for this client when the activity is carried out for it; the others are
      skipped (not an error: the DPO named activities for all clients at once).

    Returns, per client, what the activation trail event records: the entries updated and
    the named ones skipped, with why. ``relocate`` touches no entry: entries read the
    sub-processor's locations from the list and the client's assignment.
    """
    kind, sub_id = change["kind"], change["subprocessor"]
    reason = f"sub-processor change {change['id']} took effect"
    if kind == "relocate":
        return {}
    if kind == "remove":
        used = await registers.activities_using_subprocessor(sub_id)
        done: dict[str, dict[str, Any]] = {}
        for client_id in client_ids:
            ids = [
                item["activity_id"]
                for item in used
                if item["status"] == "active" and client_id in item["client_ids"]
            ]
            if ids:
                await registers.apply_subprocessor_removal(
                    sub_id, client_id, ids, actor=actor, now=now, reason=reason
                )
            done[client_id] = {"register_activity_ids": ids}
        return done
    named = list(dict.fromkeys(_loads(change["activity_ids"], [])))
    served = {title["id"]: clients for title, clients in await _register_titles(change)}
    used = (
        [
            (item["activity_id"], set(item["client_ids"]))
            for item in await registers.activities_using_subprocessor(change["replaces"])
            if item["status"] == "active"
        ]
        if kind == "replace"
        else []
    )
    done = {}
    for client_id in client_ids:
        ids = [activity_id for activity_id, clients in used if client_id in clients]
        # The event is the client's own (its trail shows it): it names only the client's
        # entries, and merely counts the named ones that are not, never naming another's.
        skipped = 0
        for activity_id in named:
            if client_id in served.get(activity_id, ()):
                if activity_id not in ids:
                    ids.append(activity_id)
            else:
                skipped += 1
        if ids:
            await registers.apply_subprocessor_activation(
                sub_id,
                client_id,
                ids,
                activities="; ".join(activities),
                replaces=change["replaces"],
                actor=actor,
                now=now,
                reason=reason,
            )
        if ids or skipped or kind == "replace":
            done[client_id] = {"register_activity_ids": ids, "register_not_applicable": skipped}
    return done


async def _maybe_complete(change_id: str, actor: str, now: datetime) -> None:
    """A published change is complete once active for every client it still applies to."""
    c = SubprocessorChangeClient
    change = await _change_row(change_id)
    if change["status"] != "published":
        return
    if not await c.count().where((c.change == change_id) & (c.state == "active")):
        return
    pending = await c.count().where(
        (c.change == change_id)
        & (c.state != "active")
        & (c.resolution.is_null() | c.resolution.not_in(sorted(rules.EXCLUDING_RESOLUTIONS)))
    )
    if pending == 0:
        await SubprocessorChange.update({SubprocessorChange.status: "completed"}).where(
            SubprocessorChange.id == change_id
        )
        await trail.append(
            now=now,
            actor=actor,
            action="subprocessor.change.completed",
            subject_type="subprocessor_change",
            subject_id=change_id,
        )


async def _set_sub(
    sub_id: str, values: dict[Any, Any], reason: str, change_id: str, actor: str, now: datetime
) -> None:
    before = await _sub_row(sub_id)
    await Subprocessor.update({**values, Subprocessor.updated_at: now}).where(
        Subprocessor.id == sub_id
    )
    after = await _sub_row(sub_id)
    await _revise(after, now, reason, change_id)
    await trail.append(
        now=now,
        actor=actor,
        action="subprocessor.updated",
        subject_type="subprocessor",
        subject_id=sub_id,
        before=sub_out(before),
        after=sub_out(after),
        details={"reason": reason, "change_id": change_id, "status": after["status"]},
    )


async def _update_list(
    change: dict[str, Any], activities: list[str], locations: list[str], actor: str, now: datetime
) -> None:
    """The list follows the first activation; a replaced or removed entry retires with its
    last client."""
    kind, sub_id = change["kind"], change["subprocessor"]
    sub = await _sub_row(sub_id)
    values: dict[Any, Any] = {}
    if kind in {"add", "replace"} and sub["status"] != "active":
        values[Subprocessor.status] = "active"
    if kind in {"relocate", "activities", "add", "replace"}:
        if _loads(sub["hosting_locations"], []) != locations and kind != "activities":
            values[Subprocessor.hosting_locations] = _dumps(locations)
            values[Subprocessor.transfer_mechanism] = change["transfer_mechanism"]
        if _loads(sub["activities"], []) != activities and kind != "relocate":
            values[Subprocessor.activities] = _dumps(activities)
        if _loads(sub["data_categories"], []) != _loads(change["data_categories"], []):
            values[Subprocessor.data_categories] = change["data_categories"]
    if values:
        await _set_sub(sub_id, values, f"change {kind}", change["id"], actor, now)
    leaving = change["replaces"] if kind == "replace" else sub_id if kind == "remove" else None
    if leaving and not await _open_users(leaving):
        await _set_sub(
            leaving,
            {Subprocessor.status: "retired"},
            f"change {kind}: no client left",
            change["id"],
            actor,
            now,
        )


# -- views ------------------------------------------------------------------------------------


def change_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "subprocessor_id": row["subprocessor"],
        "replaces_id": row["replaces"],
        "activities": _loads(row["activities"], []),
        "data_categories": _loads(row["data_categories"], []),
        "hosting_locations": _loads(row["hosting_locations"], []),
        "transfer_mechanism": row["transfer_mechanism"],
        "effective_date": row["effective_date"].isoformat(),
        "summary": row["summary"],
        "activity_ids": _loads(row["activity_ids"], []),
        "status": row["status"],
        "created_at": utc_iso(row["created_at"]),
        "published_at": utc_iso(row["published_at"]),
        "abandoned_at": utc_iso(row["abandoned_at"]),
    }


def client_state_out(
    row: dict[str, Any], effective_date: date, objections: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    due = row["window_due"]
    estimated = due is None
    basis = due if due is not None else row["estimated_window_due"]
    earliest = rules.earliest_after_due(basis, row["time_zone"]) if basis else None
    return {
        "client_id": row["client_id"],
        "contract_id": row["contract_id"],
        "state": row["state"],
        "notice_id": row["notice_id"],
        "notified_at": utc_iso(row["notified_at"]) if row["notice_id"] else None,
        "received_at": utc_iso(row["received_at"]),
        "window": {
            "due": utc_iso(due),
            "display": row["window_display"],
            "duration": row["window_duration"],
            "terms_version": row["terms_version"],
            "time_zone": row["time_zone"],
            "explanation": _loads(row["window_explanation"], []),
            "closed": due is not None and now > due,
            "estimated_due": utc_iso(row["estimated_window_due"]) if estimated else None,
        },
        "earliest_effective_date": earliest.isoformat() if earliest else None,
        "earliest_is_estimate": estimated,
        "effective_date_ok": earliest is None or effective_date >= earliest,
        "accepted_at": utc_iso(row["accepted_at"]),
        "accepted_how": row["accepted_how"],
        "resolution": row["resolution"],
        "resolved_at": utc_iso(row["resolved_at"]),
        "activated_at": utc_iso(row["activated_at"]),
        "objections": objections,
    }


async def _objections_by_client(change_id: str, client_ids: list[str] | None = None) -> dict:
    o = SubprocessorObjection
    query = o.select().where(o.change_id == change_id).order_by(o.id)
    if client_ids is not None:
        query = query.where(o.client_id.is_in(client_ids or [""]))
    grouped: dict[str, list[dict[str, Any]]] = {}
    for r in await query:
        grouped.setdefault(r["client_id"], []).append(objection_out(r))
    return grouped


async def get_change(change_id: str, now: datetime) -> dict[str, Any]:
    """The change and how many clients are in each state (clients: ``list_change_clients``)."""
    change = await _change_row(change_id)
    out = change_out(change)
    out["facts"] = _loads(change["facts_json"], {})
    c = SubprocessorChangeClient
    # "pending" (notices still being queued by the fan-out jobs) is listed only while it is not 0
    counts = {state: 0 for state in rules.CLIENT_STATES if state != "pending"}
    rows = await c.select(c.state, c.window_due, c.received_at).where(c.change == change_id)
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    out["clients"] = {
        "total": len(rows),
        "by_state": counts,
        "notices_pending": counts.get("pending", 0),
        "windows_closed": sum(1 for r in rows if r["window_due"] and now > r["window_due"]),
    }
    if change["status"] == "draft":
        out["clients"]["proposed"] = await affected_clients(change)
    return out


async def list_change_clients(
    change_id: str, request: PageRequest, state: str | None, now: datetime
) -> dict[str, Any]:
    change = await _change_row(change_id)
    if state is not None and state not in rules.CLIENT_STATES:
        raise ValidationProblem(
            f"state must be one of {', '.join(rules.CLIENT_STATES)}", field="state", rule="enum"
        )
    c = SubprocessorChangeClient
    query = c.select().where(c.change == change_id).order_by(c.id).limit(request.limit + 1)
    if request.cursor:
        query = query.where(c.id > request.cursor)
    if state:
        query = query.where(c.state == state)
    rows = await query
    objections = await _objections_by_client(change_id, [r["client_id"] for r in rows])
    items = []
    for r in rows:
        mine = objections.get(r["client_id"], [])
        item = client_state_out(r, change["effective_date"], mine, now)
        item["id"] = r["id"]
        items.append(item)
    return page(items, request)


async def list_changes(request: PageRequest, status: str | None) -> dict[str, Any]:
    query = SubprocessorChange.select().order_by(SubprocessorChange.id).limit(request.limit + 1)
    if request.cursor:
        query = query.where(SubprocessorChange.id > request.cursor)
    if status:
        query = query.where(SubprocessorChange.status == status)
    return page([change_out(r) for r in await query], request)


async def _client_change_out(change: dict[str, Any], client_id: str) -> dict[str, Any]:
    """``change_out`` as a client may see it: of the register activities the change names,
    only those carried out for this client (another client's ids are not its business)."""
    out = change_out(change)
    named = out["activity_ids"]
    if named:
        served = await registers.clients_of(named)
        out["activity_ids"] = [a for a in named if client_id in served.get(a, [])]
    return out


async def client_change_view(change_id: str, client_id: str, now: datetime) -> dict[str, Any]:
    change = await _published(change_id)
    row = await _client_row(change_id, client_id)
    objections = await _objections_by_client(change_id, [client_id])
    out = await _client_change_out(change, client_id)
    out["facts"] = _loads(change["facts_json"], {})
    out["mine"] = client_state_out(
        row, change["effective_date"], objections.get(client_id, []), now
    )
    return out


async def client_changes(client_id: str, request: PageRequest, now: datetime) -> dict[str, Any]:
    await contracts.get_client(client_id)
    c = SubprocessorChangeClient
    query = c.select().where(c.client_id == client_id).order_by(c.id).limit(request.limit + 1)
    if request.cursor:
        query = query.where(c.id > request.cursor)
    rows = await query
    items = []
    for r in rows:
        change = await _change_row(r["change"])
        objections = await _objections_by_client(change["id"], [client_id])
        item = await _client_change_out(change, client_id)
        item["mine"] = client_state_out(
            r, change["effective_date"], objections.get(client_id, []), now
        )
        item["id"] = r["id"]
        item["change_id"] = change["id"]
        items.append(item)
    return page(items, request)


async def client_feed_entries(client_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The changes notified to this client, latest first, with its own state (Atom feed)."""
    await contracts.get_client(client_id)
    c = SubprocessorChangeClient
    rows = await (
        c.select().where(c.client_id == client_id).order_by(c.id, ascending=False).limit(limit)
    )
    entries = []
    for r in rows:
        change = await _change_row(r["change"])
        facts = _loads(change["facts_json"], {})
        entries.append({"row": r, "change": change, "facts": facts})
    return entries
