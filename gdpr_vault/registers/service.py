"""Use cases of the processing register (GDPR Art. 30).

An activity is written once and linked to every client it serves; each change is a new
immutable version (author, reason, validity period) and one trail event. Reads take an optional
``as_of`` instant and return the state then. Every write goes through ``_write_version`` so the
version, the link tables and the trail can never disagree.

Other capabilities call: ``activities_using_subprocessor``, ``clients_using_subprocessor``,
``link_subprocessor``, ``unlink_subprocessor``, ``apply_subprocessor_activation``,
``apply_subprocessor_removal``, ``activity_statuses``, ``clients_of`` and
``activity_ids_for_client``. All writers run inside ``db.transaction()``, which nests into the
caller's transaction when there is one.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from gdpr_vault import db
from gdpr_vault.auth.tokens import Principal
from gdpr_vault.errors import Conflict, NotFound, ValidationProblem
from gdpr_vault.evidence import trail
from gdpr_vault.ids import is_valid_id, new_id
from gdpr_vault.pagination import PageRequest
from gdpr_vault.registers import rules
from gdpr_vault.registers.rules import SubprocessorFacts
from gdpr_vault.registers.schemas import ActivityIn
from gdpr_vault.registers.tables import (
    ActivityClient,
    ActivitySubprocessor,
    ActivityVersion,
    ProcessingActivity,
)
from gdpr_vault.settings import get_settings
from gdpr_vault.timeutil import utc_iso

SYSTEM = Principal(token_id="registers", role="dpo", client_id=None, label="register service")


def validation(errors: list[dict[str, Any]]) -> ValidationProblem:
    """A 422 listing every error; the first names the problem's ``field`` and ``rule``."""
    first = errors[0]
    detail = (
        first["detail"]
        if len(errors) == 1
        else f"{len(errors)} errors; first: " + (first["detail"])
    )
    return ValidationProblem(
        detail, field=first["field"], rule=first["rule"], extra={"errors": errors}
    )


# -- identities (Art. 30(2)(a)) --------------------------------------------------------------


def processor_identity() -> dict[str, Any]:
    settings = get_settings()
    return {
        "name": settings.processor_name,
        "contact": settings.processor_contact,
        "dpo": settings.processor_dpo or None,
    }


def controller_identity(client: Mapping[str, Any]) -> dict[str, Any]:
    """The controller block from a contracts-service client (``get_client`` or list item)."""
    dpo = client.get("dpo")
    contact = dpo["email"] if dpo else None
    if contact is None:
        for item in client.get("contacts") or []:
            contact = item["email"]
            break
    return {
        "client_id": client["id"],
        "legal_name": client["legal_name"],
        "registration": (
            f"{client['registration_scheme']} {client['registration_id']}"
            if client.get("registration_id")
            else None
        ),
        "country": client.get("country"),
        "contact": contact,
        "dpo": dpo,
    }


async def client_identity(client_id: str) -> dict[str, Any]:
    from gdpr_vault.contracts.service import get_client

    return controller_identity(await get_client(client_id))


async def iter_controllers(batch: int = 500) -> AsyncIterator[list[dict[str, Any]]]:
    """Every client's identity block, a page at a time (contracts service, id order)."""
    from gdpr_vault.contracts.service import list_clients, list_contacts

    cursor = None
    while True:
        result = await list_clients(SYSTEM, PageRequest(batch, cursor), None, None)
        items = result["items"]
        for item in items:
            if item.get("dpo") is None:
                item["contacts"] = await list_contacts(item["id"])
        yield [controller_identity(item) for item in items]
        cursor = result["next_cursor"]
        if cursor is None:
            return


async def existing_client_ids(ids: Iterable[str]) -> set[str]:
    from gdpr_vault.contracts.service import get_client

    wanted = {i for i in ids if is_valid_id(i, "cli")}
    if len(wanted) <= 20:
        found = set()
        for client_id in wanted:
            try:
                await get_client(client_id)
            except NotFound:
                continue
            found.add(client_id)
        return found
    found = set()
    async for controllers in iter_controllers():
        found.update(c["client_id"] for c in controllers if c["client_id"] in wanted)
    return found


# -- sub-processor facts ---------------------------------------------------------------------


def _hosting(value: Any) -> tuple[str, ...]:
    """Hosting locations from a list entry (JSON text) or a revision snapshot (a list)."""
    if isinstance(value, str):
        try:
            value = json.loads(value or "[]")
        except ValueError:
            return ()
    return tuple(str(c).upper() for c in value or ())


async def subprocessor_facts(
    ids: Iterable[str] | None = None, as_of: datetime | None = None
) -> dict[str, SubprocessorFacts]:
    """The list entries of the given sub-processors (all when ``ids`` is None).

    The only read of the sub-processor list in this capability: entries refer to it by foreign
    key, and names, locations and transfer mechanisms are always read from it. With ``as_of``
    each entry is taken from its revision in force then, so an entry "as of" a date before a
    relocation shows where the data was hosted then, not where it is now (an entry with no
    revision then keeps its current facts).
    """
    from gdpr_vault.subprocessors.tables import Subprocessor, SubprocessorRevision

    query = Subprocessor.select(
        Subprocessor.id,
        Subprocessor.legal_name,
        Subprocessor.country,
        Subprocessor.contact,
        Subprocessor.hosting_locations,
        Subprocessor.transfer_mechanism,
    )
    if ids is not None:
        wanted = [i for i in set(ids) if i]
        if not wanted:
            return {}
        query = query.where(Subprocessor.id.is_in(wanted))
    rows = {row["id"]: row for row in await query}
    if as_of is not None and rows:
        rev = SubprocessorRevision
        revisions = await rev.select(rev.subprocessor, rev.snapshot_json).where(
            rev.subprocessor.is_in(sorted(rows))
            & (rev.valid_from <= as_of)
            & (rev.valid_to.is_null() | (rev.valid_to > as_of))
        )
        for revision in revisions:
            snapshot = json.loads(revision["snapshot_json"])
            rows[revision["subprocessor"]] = {**rows[revision["subprocessor"]], **snapshot}
    return {
        sub_id: SubprocessorFacts(
            id=sub_id,
            legal_name=row["legal_name"],
            country=(row["country"] or "").upper(),
            hosting_locations=_hosting(row["hosting_locations"]),
            transfer_mechanism=row["transfer_mechanism"],
            contact=row["contact"] or "",
        )
        for sub_id, row in rows.items()
    }


async def _client_hosting(
    client_id: str, sub_ids: Iterable[str], as_of: datetime | None
) -> dict[str, tuple[str, ...]]:
    """Where each sub-processor hosted this client's data at ``as_of`` (now when None).

    A relocation takes effect client by client, while the list entry follows the first
    activation: a client whose window is still open keeps the old locations until its own
    activation, and its register must say so (its effective-dated assignment).
    """
    from gdpr_vault.subprocessors.tables import SubprocessorAssignment as A

    wanted = sorted({i for i in sub_ids if i})
    if not wanted:
        return {}
    query = A.select(A.subprocessor, A.hosting_locations).where(
        (A.client_id == client_id) & A.subprocessor.is_in(wanted)
    )
    if as_of is None:
        query = query.where(A.valid_to.is_null())
    else:
        query = query.where((A.valid_from <= as_of) & (A.valid_to.is_null() | (A.valid_to > as_of)))
    return {row["subprocessor"]: _hosting(row["hosting_locations"]) for row in await query}


def _with_client_hosting(
    facts: Mapping[str, SubprocessorFacts], hosting: Mapping[str, tuple[str, ...]]
) -> dict[str, SubprocessorFacts]:
    return {
        sub_id: dataclasses.replace(fact, hosting_locations=hosting[sub_id])
        if sub_id in hosting
        else fact
        for sub_id, fact in facts.items()
    }


# -- shaping ---------------------------------------------------------------------------------

ScopedKey = tuple[str, str, str]  # (subprocessor id, client id, activities)


def entry_out(
    activity_id: str,
    version: Mapping[str, Any],
    content: Mapping[str, Any],
    facts: Mapping[str, SubprocessorFacts],
    *,
    scoped: Iterable[Mapping[str, Any]] = (),
    client_ids: list[str] | None = None,
    client_id: str | None = None,
    with_history: bool = True,
) -> dict[str, Any]:
    """One entry as the API and the exports show it.

    For a client (``client_id``) only its own scoped sub-processors are passed in and no other
    client is named; the processor view lists ``client_ids``.
    """
    view = rules.with_scoped(content, scoped)
    subprocessors = []
    for link in view["subprocessors"]:
        fact = facts.get(link["subprocessor_id"])
        subprocessors.append(
            {
                "subprocessor_id": link["subprocessor_id"],
                "legal_name": fact.legal_name if fact else None,
                "country": fact.country if fact else None,
                "hosting_locations": list(fact.hosting_locations) if fact else [],
                "transfer_mechanism": fact.transfer_mechanism if fact else None,
                "contact": fact.contact if fact else None,
                "activities": link["activities"],
                "client_id": link["client_id"],
            }
        )
    out: dict[str, Any] = {"activity_id": activity_id, **view, "subprocessors": subprocessors}
    if client_id is None and client_ids is not None:
        out["client_ids"] = client_ids
    out["version"] = version["version"]
    out["valid_from"] = utc_iso(version["valid_from"])
    if with_history:
        out["valid_to"] = utc_iso(version["valid_to"])
        out["author"] = version["author"]
        out["reason"] = version["reason"]
    served = [client_id] if client_id else client_ids
    findings = rules.entry_findings(view, facts, client_ids=served)
    out["completeness"] = {**rules.summary(findings), "findings": [f.to_dict() for f in findings]}
    return out


def _version_out(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "version": row["version"],
        "valid_from": utc_iso(row["valid_from"]),
        "valid_to": utc_iso(row["valid_to"]),
        "author": row["author"],
        "reason": row["reason"],
    }


# -- reads -----------------------------------------------------------------------------------


def _as_of_version(query: Any, as_of: datetime | None) -> Any:
    if as_of is None:
        return query.where(ActivityVersion.valid_to.is_null())
    return query.where(
        (ActivityVersion.valid_from <= as_of)
        & (ActivityVersion.valid_to.is_null() | (ActivityVersion.valid_to > as_of))
    )


def _as_of_link(table: Any, query: Any, as_of: datetime | None) -> Any:
    if as_of is None:
        return query.where(table.removed_at.is_null())
    return query.where(
        (table.added_at <= as_of) & (table.removed_at.is_null() | (table.removed_at > as_of))
    )


async def versions_as_of(
    activity_ids: list[str], as_of: datetime | None
) -> dict[str, dict[str, Any]]:
    """The version in force at ``as_of`` (now when None) of each activity, in one query."""
    if not activity_ids:
        return {}
    query = ActivityVersion.select().where(ActivityVersion.activity.is_in(activity_ids))
    rows = await _as_of_version(query, as_of)
    return {row["activity"]: row for row in rows}


async def activity_ids_for_client(client_id: str, as_of: datetime | None = None) -> list[str]:
    """The activities carried out for a client at ``as_of`` (now when None), in id order."""
    query = ActivityClient.select(ActivityClient.activity).where(ActivityClient.client == client_id)
    rows = await _as_of_link(ActivityClient, query, as_of)
    return sorted({row["activity"] for row in rows})


async def clients_of(activity_ids: list[str], as_of: datetime | None = None) -> dict[str, list]:
    """The clients each activity is carried out for at ``as_of``."""
    out: dict[str, list[str]] = {a: [] for a in activity_ids}
    if not activity_ids:
        return out
    query = ActivityClient.select(ActivityClient.activity, ActivityClient.client).where(
        ActivityClient.activity.is_in(activity_ids)
    )
    for row in await _as_of_link(ActivityClient, query, as_of).order_by(ActivityClient.client):
        out[row["activity"]].append(row["client"])
    return out


async def scoped_links(
    activity_ids: list[str], as_of: datetime | None = None, client_id: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Sub-processors activated for one client only, per activity (for ``client_id`` only when
    given)."""
    out: dict[str, list[dict[str, Any]]] = {a: [] for a in activity_ids}
    if not activity_ids:
        return out
    query = ActivitySubprocessor.select(
        ActivitySubprocessor.activity,
        ActivitySubprocessor.subprocessor,
        ActivitySubprocessor.client,
        ActivitySubprocessor.activities,
    ).where(
        ActivitySubprocessor.activity.is_in(activity_ids)
        & ActivitySubprocessor.client.is_not_null()
    )
    if client_id is not None:
        query = query.where(ActivitySubprocessor.client == client_id)
    rows = await _as_of_link(ActivitySubprocessor, query, as_of)
    for row in sorted(rows, key=lambda r: (r["client"], r["subprocessor"])):
        out[row["activity"]].append(
            {
                "subprocessor_id": row["subprocessor"],
                "client_id": row["client"],
                "activities": row["activities"],
            }
        )
    return out


def _check_activity_id(activity_id: str) -> None:
    if not is_valid_id(activity_id, "pra"):
        raise NotFound(f"processing activity {activity_id} not found", field="activity_id")


async def _activity_row(activity_id: str) -> dict[str, Any]:
    _check_activity_id(activity_id)
    row = await ProcessingActivity.select().where(ProcessingActivity.id == activity_id).first()
    if row is None:
        raise NotFound(f"processing activity {activity_id} not found", field="activity_id")
    return row


def _sub_ids(contents: Iterable[Mapping[str, Any]], scoped: Mapping[str, list]) -> set[str]:
    ids = {s["subprocessor_id"] for c in contents for s in c["subprocessors"]}
    ids |= {t["subprocessor_id"] for c in contents for t in c["transfers"] if t["subprocessor_id"]}
    ids |= {s["subprocessor_id"] for links in scoped.values() for s in links}
    return ids


async def render_entries(
    activity_ids: list[str],
    as_of: datetime | None,
    *,
    client_id: str | None = None,
    with_clients: bool = False,
    with_history: bool = True,
    facts: Mapping[str, SubprocessorFacts] | None = None,
) -> list[dict[str, Any]]:
    """Entries of the given activities at ``as_of`` (skipping those that did not exist)."""
    versions = await versions_as_of(activity_ids, as_of)
    ids = [a for a in activity_ids if a in versions]
    contents = {a: json.loads(versions[a]["data_json"]) for a in ids}
    scoped = await scoped_links(ids, as_of, client_id)
    clients = await clients_of(ids, as_of) if with_clients else {}
    sub_ids = _sub_ids(contents.values(), scoped)
    if facts is None:
        facts = await subprocessor_facts(sub_ids, as_of)
    if client_id is not None:
        facts = _with_client_hosting(facts, await _client_hosting(client_id, sub_ids, as_of))
    return [
        entry_out(
            a,
            versions[a],
            contents[a],
            facts,
            scoped=scoped[a],
            client_ids=clients.get(a) if with_clients else None,
            client_id=client_id,
            with_history=with_history,
        )
        for a in ids
    ]


async def get_activity(
    activity_id: str, as_of: datetime | None = None, *, client_id: str | None = None
) -> dict[str, Any]:
    """One entry as it stood at ``as_of``; for a client, only if carried out for it then."""
    await _activity_row(activity_id)
    if client_id is not None and activity_id not in await activity_ids_for_client(client_id, as_of):
        raise NotFound(f"processing activity {activity_id} not found", field="activity_id")
    entries = await render_entries(
        [activity_id], as_of, client_id=client_id, with_clients=client_id is None
    )
    if not entries:
        raise NotFound(
            f"processing activity {activity_id} did not exist at {utc_iso(as_of)}",
            field="as_of",
        )
    return entries[0]


async def _client_periods(activity_id: str, client_id: str) -> list[tuple[datetime, Any]]:
    rows = await ActivityClient.select(ActivityClient.added_at, ActivityClient.removed_at).where(
        (ActivityClient.activity == activity_id) & (ActivityClient.client == client_id)
    )
    return [(r["added_at"], r["removed_at"]) for r in rows]


async def _visible_versions(activity_id: str, client_id: str | None) -> list[dict[str, Any]]:
    """Version rows; for a client only those in force while the activity served it."""
    await _activity_row(activity_id)
    rows = await (
        ActivityVersion.select()
        .where(ActivityVersion.activity == activity_id)
        .order_by(ActivityVersion.version)
    )
    if client_id is None:
        return rows
    periods = await _client_periods(activity_id, client_id)
    if not periods:
        raise NotFound(f"processing activity {activity_id} not found", field="activity_id")

    def overlaps(row: Mapping[str, Any]) -> bool:
        start, end = row["valid_from"], row["valid_to"]
        return any(
            (end is None or end > added) and (removed is None or start < removed)
            for added, removed in periods
        )

    return [row for row in rows if overlaps(row)]


async def history(activity_id: str, client_id: str | None = None) -> list[dict[str, Any]]:
    """Every change of an entry in time order: content versions and link changes, each with
    author and reason. A client sees the versions in force while it was served and its own
    links only."""
    events: list[dict[str, Any]] = []
    previous: dict[str, Any] = {}
    for row in await _visible_versions(activity_id, client_id):
        content = json.loads(row["data_json"])
        events.append(
            {
                "kind": "version",
                **_version_out(row),
                "at": utc_iso(row["valid_from"]),
                "changed_fields": [c["field"] for c in rules.diff(previous, content)],
            }
        )
        previous = content
    client_query = ActivityClient.select().where(ActivityClient.activity == activity_id)
    sub_query = ActivitySubprocessor.select().where(
        (ActivitySubprocessor.activity == activity_id) & ActivitySubprocessor.client.is_not_null()
    )
    if client_id is not None:
        client_query = client_query.where(ActivityClient.client == client_id)
        sub_query = sub_query.where(ActivitySubprocessor.client == client_id)
    for row in await client_query:
        for kind, at, by, why in (
            ("client-linked", row["added_at"], row["added_by"], row["added_reason"]),
            ("client-unlinked", row["removed_at"], row["removed_by"], row["removed_reason"]),
        ):
            if at is not None:
                events.append(
                    {
                        "kind": kind,
                        "at": utc_iso(at),
                        "author": by,
                        "reason": why,
                        "client_id": row["client"],
                    }
                )
    for row in await sub_query:
        for kind, at, by, why in (
            ("subprocessor-linked", row["added_at"], row["added_by"], row["added_reason"]),
            ("subprocessor-unlinked", row["removed_at"], row["removed_by"], row["removed_reason"]),
        ):
            if at is not None:
                events.append(
                    {
                        "kind": kind,
                        "at": utc_iso(at),
                        "author": by,
                        "reason": why,
                        "client_id": row["client"],
                        "subprocessor_id": row["subprocessor"],
                        "activities": row["activities"],
                    }
                )
    order = {"version": 0, "client-linked": 1, "subprocessor-linked": 2}
    events.sort(key=lambda e: (e["at"], order.get(e["kind"], 3), e.get("version", 0)))
    return events


async def list_versions(activity_id: str, client_id: str | None = None) -> list[dict[str, Any]]:
    return [_version_out(row) for row in await _visible_versions(activity_id, client_id)]


async def get_version(
    activity_id: str, version: int, client_id: str | None = None
) -> dict[str, Any]:
    for row in await _visible_versions(activity_id, client_id):
        if row["version"] == version:
            content = json.loads(row["data_json"])
            facts = await subprocessor_facts(_sub_ids([content], {}))
            out = entry_out(activity_id, row, content, facts, client_id=client_id)
            out.pop("completeness")
            return out
    raise NotFound(f"version {version} not found", field="version")


async def diff_versions(
    activity_id: str, from_version: int, to_version: int, client_id: str | None = None
) -> dict[str, Any]:
    found = {row["version"]: row for row in await _visible_versions(activity_id, client_id)}
    for name, number in (("from", from_version), ("to", to_version)):
        if number not in found:
            raise NotFound(f"version {number} not found", field=name)
    old_row, new_row = found[from_version], found[to_version]
    return {
        "activity_id": activity_id,
        "from": _version_out(old_row),
        "to": _version_out(new_row),
        "changes": rules.diff(json.loads(old_row["data_json"]), json.loads(new_row["data_json"])),
    }


async def list_activities(
    request: PageRequest,
    *,
    client_id: str | None = None,
    subprocessor_id: str | None = None,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """The processor-wide register, a page of entries at a time (id order)."""
    query = ProcessingActivity.select(ProcessingActivity.id).order_by(ProcessingActivity.id)
    if request.cursor:
        query = query.where(ProcessingActivity.id > request.cursor)
    if client_id is not None:
        ids = await activity_ids_for_client(client_id, as_of)
        query = query.where(ProcessingActivity.id.is_in(ids or [""]))
    if subprocessor_id is not None:
        used = await activities_using_subprocessor(subprocessor_id, as_of)
        query = query.where(ProcessingActivity.id.is_in([a["activity_id"] for a in used] or [""]))
    if as_of is not None:
        query = query.where(ProcessingActivity.created_at <= as_of)
    rows = await query.limit(request.limit + 1)
    ids = [r["id"] for r in rows[: request.limit]]
    items = await render_entries(ids, as_of, with_clients=True)
    more = len(rows) > request.limit
    return {"items": items, "next_cursor": ids[-1] if more and ids else None}


async def client_register(client_id: str, as_of: datetime | None = None) -> dict[str, Any]:
    """A controller's view of the register: identities, its entries, what is missing."""
    controller = await client_identity(client_id)
    processor = processor_identity()
    ids = await activity_ids_for_client(client_id, as_of)
    entries = await render_entries(ids, as_of, client_id=client_id, with_history=False)
    activities = [e for e in entries if e["status"] == "active"]
    identity_findings = [
        *rules.processor_findings(processor),
        *rules.controller_findings(controller),
    ]
    return {
        "as_of": utc_iso(as_of),
        "processor": processor,
        "controller": controller,
        "activities": activities,
        "completeness": completeness_of(activities, identity_findings),
    }


def completeness_of(
    activities: list[dict[str, Any]], identity_findings: list[rules.Finding]
) -> dict[str, Any]:
    per_entry = [
        {
            "activity_id": a["activity_id"],
            "reference": a["reference"],
            "name": a["name"],
            **a["completeness"],
        }
        for a in activities
    ]
    all_findings = [f.to_dict() for f in identity_findings] + [
        f for a in activities for f in a["completeness"]["findings"]
    ]
    return {
        **rules.summary(all_findings),
        "identity": [f.to_dict() for f in identity_findings],
        "entries": per_entry,
    }


async def client_completeness(client_id: str, as_of: datetime | None = None) -> dict[str, Any]:
    register = await client_register(client_id, as_of)
    return {"client_id": client_id, "as_of": register["as_of"], **register["completeness"]}


async def processor_completeness(
    request: PageRequest, as_of: datetime | None = None
) -> dict[str, Any]:
    """Processor identity gaps, then a page of entries with their gaps (DPO view)."""
    activities = await list_activities(request, as_of=as_of)
    findings = rules.processor_findings(processor_identity())
    entries = [
        {
            "activity_id": a["activity_id"],
            "reference": a["reference"],
            "name": a["name"],
            "client_count": len(a["client_ids"]),
            **a["completeness"],
        }
        for a in activities["items"]
        if a["status"] == "active"
    ]
    return {
        "as_of": utc_iso(as_of),
        "processor": {**rules.summary(findings), "findings": [f.to_dict() for f in findings]},
        "entries": entries,
        "next_cursor": activities["next_cursor"],
    }


async def activities_using_subprocessor(
    subprocessor_id: str, as_of: datetime | None = None
) -> list[dict[str, Any]]:
    """Which activities involve a sub-processor, and for which clients (Art. 28(2) notices).

    ``client_ids`` are the clients whose data the sub-processor touches through the activity:
    every client of it for an activity-wide link, the client of a client-scoped link.
    """
    query = ActivitySubprocessor.select(
        ActivitySubprocessor.activity, ActivitySubprocessor.client
    ).where(ActivitySubprocessor.subprocessor == subprocessor_id)
    by_activity: dict[str, set[str | None]] = {}
    for link in await _as_of_link(ActivitySubprocessor, query, as_of):
        by_activity.setdefault(link["activity"], set()).add(link["client"])
    ids = sorted(by_activity)
    versions = await versions_as_of(ids, as_of)
    wide = [a for a in ids if None in by_activity[a]]
    clients = await clients_of(wide, as_of)
    out = []
    for activity_id in ids:
        version = versions.get(activity_id)
        if version is None:
            continue
        content = json.loads(version["data_json"])
        scopes = by_activity[activity_id]
        served = set(clients.get(activity_id, [])) | {c for c in scopes if c is not None}
        out.append(
            {
                "activity_id": activity_id,
                "reference": content["reference"],
                "name": content["name"],
                "status": content["status"],
                "scope": "activity" if None in scopes else "clients",
                "client_ids": sorted(served),
            }
        )
    return out


async def clients_using_subprocessor(
    subprocessor_id: str, as_of: datetime | None = None
) -> list[str]:
    """Every client whose data a sub-processor touches through an active entry."""
    clients: set[str] = set()
    for item in await activities_using_subprocessor(subprocessor_id, as_of):
        if item["status"] == "active":
            clients.update(item["client_ids"])
    return sorted(clients)


async def subprocessor_usage(subprocessor_id: str, as_of: datetime | None = None) -> dict:
    if not await subprocessor_facts([subprocessor_id]):
        raise NotFound(f"sub-processor {subprocessor_id} not found", field="subprocessor_id")
    activities = await activities_using_subprocessor(subprocessor_id, as_of)
    clients = sorted({c for a in activities if a["status"] == "active" for c in a["client_ids"]})
    return {
        "subprocessor_id": subprocessor_id,
        "as_of": utc_iso(as_of),
        "activities": activities,
        "client_ids": clients,
    }


# -- writes ----------------------------------------------------------------------------------


@dataclass
class Desired:
    """What a write wants the activity to become; None parts are left as they are."""

    content: dict[str, Any] | None = None
    clients: set[str] | None = None
    scoped: set[ScopedKey] | None = None


def desired_from_input(data: ActivityIn, status: str = "active") -> Desired:
    raw = msgspec.to_builtins(data)
    raw.pop("reason", None)
    raw["status"] = status
    links = raw.pop("subprocessors")
    raw["subprocessors"] = [link for link in links if not link.get("client_id")]
    scoped = {
        (link["subprocessor_id"], link["client_id"], " ".join(link["activities"].split()))
        for link in links
        if link.get("client_id")
    }
    clients = raw.pop("client_ids")
    return Desired(
        content=rules.canonical_entry(raw),
        clients=set(clients) if clients is not None else None,
        scoped=scoped if clients is not None or scoped else None,
    )


def _error(field: str, rule: str, detail: str) -> dict[str, Any]:
    return {"field": field, "rule": rule, "detail": detail}


async def validate_desired(
    desired: Desired,
    *,
    current_clients: set[str] | None = None,
    known_clients: set[str] | None = None,
    known_subprocessors: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Every reason the write cannot be recorded, as {field, rule, detail}; empty when fine."""
    errors: list[dict[str, Any]] = []
    content = desired.content
    sub_ids: list[str] = []
    if content is not None:
        errors += [_error(f, r, d) for f, r, d in rules.input_errors(content)]
        sub_ids += [s["subprocessor_id"] for s in content["subprocessors"]]
        sub_ids += [t["subprocessor_id"] for t in content["transfers"] if t["subprocessor_id"]]
    sub_ids += [key[0] for key in desired.scoped or ()]
    if known_subprocessors is None:
        known_subprocessors = await subprocessor_facts(sub_ids)
    if content is not None:
        for index, link in enumerate(content["subprocessors"]):
            if link["subprocessor_id"] not in known_subprocessors:
                errors.append(
                    _error(
                        f"subprocessors[{index}].subprocessor_id",
                        "existing-subprocessor",
                        f"sub-processor {link['subprocessor_id']} not found",
                    )
                )
        for index, transfer in enumerate(content["transfers"]):
            sub_id = transfer["subprocessor_id"]
            if sub_id and sub_id not in known_subprocessors:
                errors.append(
                    _error(
                        f"transfers[{index}].subprocessor_id",
                        "existing-subprocessor",
                        f"sub-processor {sub_id} not found",
                    )
                )
    if desired.clients is not None:
        ordered = sorted(desired.clients)
        if known_clients is None:
            known_clients = await existing_client_ids(ordered)
        for index, client_id in enumerate(ordered):
            if client_id not in known_clients:
                errors.append(
                    _error(
                        f"client_ids[{index}]", "existing-client", f"client {client_id} not found"
                    )
                )
    served = desired.clients if desired.clients is not None else (current_clients or set())
    for index, (sub_id, client_id, _) in enumerate(sorted(desired.scoped or ())):
        if sub_id not in known_subprocessors:
            errors.append(
                _error(
                    f"subprocessors[{index}].subprocessor_id",
                    "existing-subprocessor",
                    f"sub-processor {sub_id} not found",
                )
            )
        if client_id not in served:
            errors.append(
                _error(
                    f"subprocessors[{index}].client_id",
                    "linked-client",
                    "a sub-processor scoped to a client needs the activity to serve that client",
                )
            )
    return errors


async def open_clients(activity_id: str) -> set[str]:
    rows = await ActivityClient.select(ActivityClient.client).where(
        (ActivityClient.activity == activity_id) & ActivityClient.removed_at.is_null()
    )
    return {r["client"] for r in rows}


async def open_scoped(activity_id: str) -> set[ScopedKey]:
    rows = await ActivitySubprocessor.select(
        ActivitySubprocessor.subprocessor,
        ActivitySubprocessor.client,
        ActivitySubprocessor.activities,
    ).where(
        (ActivitySubprocessor.activity == activity_id)
        & ActivitySubprocessor.client.is_not_null()
        & ActivitySubprocessor.removed_at.is_null()
    )
    return {(r["subprocessor"], r["client"], r["activities"]) for r in rows}


async def _close_subprocessor_links(
    activity_id: str, keys: Iterable[ScopedKey], stamp: dict[Any, Any]
) -> None:
    for sub_id, client_id, activities in keys:
        scope = (
            ActivitySubprocessor.client.is_null()
            if not client_id
            else ActivitySubprocessor.client == client_id
        )
        await ActivitySubprocessor.update(stamp).where(
            (ActivitySubprocessor.activity == activity_id)
            & (ActivitySubprocessor.subprocessor == sub_id)
            & scope
            & (ActivitySubprocessor.activities == activities)
            & ActivitySubprocessor.removed_at.is_null()
        )


async def _open_subprocessor_links(
    activity_id: str, keys: Iterable[ScopedKey], actor: str, now: datetime, reason: str
) -> None:
    rows = [
        ActivitySubprocessor(
            id=new_id("pas"),
            activity=activity_id,
            subprocessor=sub_id,
            client=client_id or None,
            activities=activities,
            added_at=now,
            added_by=actor,
            added_reason=reason,
        )
        for sub_id, client_id, activities in sorted(keys)
    ]
    if rows:
        await ActivitySubprocessor.insert(*rows)


def _wide_keys(content: Mapping[str, Any] | None) -> set[ScopedKey]:
    if content is None:
        return set()
    return {(s["subprocessor_id"], "", s["activities"]) for s in content["subprocessors"]}


async def _reference_taken(reference: str, activity_id: str | None) -> bool:
    query = ProcessingActivity.exists().where(ProcessingActivity.reference == reference)
    if activity_id is not None:
        query = query.where(ProcessingActivity.id != activity_id)
    return await query


async def apply_desired(
    activity_id: str | None,
    desired: Desired,
    *,
    actor: str,
    now: datetime,
    reason: str,
    action: str,
) -> tuple[str, bool]:
    """Make the activity what ``desired`` says; (activity id, whether anything changed).

    Must run inside ``db.transaction()``; ``desired`` is already validated. A content change is
    a new version; client and scoped sub-processor links are opened and closed with the same
    author, reason and instant. One trail event per call that changed something.
    """
    content = desired.content
    if content is not None and await _reference_taken(content["reference"], activity_id):
        raise Conflict(
            f"another activity already has reference {content['reference']!r}",
            field="reference",
            rule="unique",
        )
    exists = activity_id is not None and await ProcessingActivity.exists().where(
        ProcessingActivity.id == activity_id
    )
    old: dict[str, Any] | None = None
    version: int | None = None
    if exists:
        assert activity_id is not None
        current = (await versions_as_of([activity_id], None))[activity_id]
        old = json.loads(current["data_json"])
        if content is not None and content != old:
            version = current["version"] + 1
            await ActivityVersion.update({ActivityVersion.valid_to: now}).where(
                ActivityVersion.id == current["id"]
            )
            await ProcessingActivity.update(
                {
                    ProcessingActivity.current_version: version,
                    ProcessingActivity.reference: content["reference"],
                    ProcessingActivity.status: content["status"],
                    ProcessingActivity.updated_at: now,
                }
            ).where(ProcessingActivity.id == activity_id)
    else:
        if content is None:
            raise NotFound(f"processing activity {activity_id} not found", field="activity_id")
        activity_id = activity_id or new_id("pra")
        version = 1
        await ProcessingActivity.insert(
            ProcessingActivity(
                id=activity_id,
                reference=content["reference"],
                current_version=1,
                status=content["status"],
                created_at=now,
                updated_at=now,
            )
        )
    closing = {
        ActivitySubprocessor.removed_at: now,
        ActivitySubprocessor.removed_by: actor,
        ActivitySubprocessor.removed_reason: reason,
    }
    if version is not None:
        assert content is not None
        await ActivityVersion.insert(
            ActivityVersion(
                id=new_id("pav"),
                activity=activity_id,
                version=version,
                data_json=trail.canonical_json(content),
                author=actor,
                reason=reason,
                valid_from=now,
            )
        )
        old_wide, new_wide = _wide_keys(old), _wide_keys(content)
        await _close_subprocessor_links(activity_id, old_wide - new_wide, closing)
        await _open_subprocessor_links(activity_id, new_wide - old_wide, actor, now, reason)
    touched: set[str] = set()
    clients_now = await open_clients(activity_id) if exists else set()
    added_clients: set[str] = set()
    removed_clients: set[str] = set()
    if desired.clients is not None:
        removed_clients = clients_now - desired.clients
        added_clients = desired.clients - clients_now
        if removed_clients:
            await ActivityClient.update(
                {
                    ActivityClient.removed_at: now,
                    ActivityClient.removed_by: actor,
                    ActivityClient.removed_reason: reason,
                }
            ).where(
                (ActivityClient.activity == activity_id)
                & ActivityClient.client.is_in(sorted(removed_clients))
                & ActivityClient.removed_at.is_null()
            )
        if added_clients:
            await ActivityClient.insert(
                *[
                    ActivityClient(
                        id=new_id("pac"),
                        activity=activity_id,
                        client=client_id,
                        added_at=now,
                        added_by=actor,
                        added_reason=reason,
                    )
                    for client_id in sorted(added_clients)
                ]
            )
        touched |= added_clients | removed_clients
        clients_now = set(desired.clients)
    scoped_now = await open_scoped(activity_id) if exists else set()
    wanted_scoped = desired.scoped
    if wanted_scoped is None and removed_clients:
        wanted_scoped = {k for k in scoped_now if k[1] not in removed_clients}
    scoped_changes = 0
    if wanted_scoped is not None:
        gone, new = scoped_now - wanted_scoped, wanted_scoped - scoped_now
        await _close_subprocessor_links(activity_id, gone, closing)
        await _open_subprocessor_links(activity_id, new, actor, now, reason)
        touched |= {k[1] for k in gone | new}
        scoped_changes = len(gone) + len(new)
    if version is None and not touched and not scoped_changes:
        return activity_id, False
    if version is not None and len(clients_now) == 1:
        touched |= clients_now
    await trail.append(
        now=now,
        actor=actor,
        action=action,
        subject_type="processing_activity",
        subject_id=activity_id,
        client_id=next(iter(touched)) if len(touched) == 1 else None,
        before=old if version is not None else None,
        after=content if version is not None else None,
        details={
            "version": version,
            "changed_fields": [c["field"] for c in rules.diff(old or {}, content)]
            if version is not None and content is not None
            else [],
            "clients_added": len(added_clients),
            "clients_removed": len(removed_clients),
            "scoped_subprocessor_changes": scoped_changes,
        },
    )
    return activity_id, True


async def _checked(desired: Desired, current_clients: set[str] | None = None) -> Desired:
    errors = await validate_desired(desired, current_clients=current_clients)
    if errors:
        raise validation(errors)
    return desired


async def create_activity(data: ActivityIn, actor: str, now: datetime) -> dict[str, Any]:
    desired = await _checked(desired_from_input(data))
    async with db.transaction():
        activity_id, _ = await apply_desired(
            None, desired, actor=actor, now=now, reason=data.reason, action="register.created"
        )
    return await get_activity(activity_id)


async def update_activity(
    activity_id: str, data: ActivityIn, actor: str, now: datetime
) -> dict[str, Any]:
    """Replace the whole entry (a new version); an identical entry writes nothing."""
    activity = await _activity_row(activity_id)
    desired = await _checked(
        desired_from_input(data, activity["status"]), await open_clients(activity_id)
    )
    async with db.transaction():
        await apply_desired(
            activity_id,
            desired,
            actor=actor,
            now=now,
            reason=data.reason,
            action="register.updated",
        )
    return await get_activity(activity_id)


async def _change(
    activity_id: str,
    change: Callable[[dict[str, Any], set[str], set[ScopedKey]], Desired],
    *,
    actor: str,
    now: datetime,
    reason: str,
    action: str,
) -> dict[str, Any]:
    """Apply ``change`` to the current state, validate, write; one transaction."""
    await _activity_row(activity_id)
    async with db.transaction():
        current = (await versions_as_of([activity_id], None))[activity_id]
        content = json.loads(current["data_json"])
        clients = await open_clients(activity_id)
        desired = change(content, clients, await open_scoped(activity_id))
        if desired.content is not None:
            desired.content = rules.canonical_entry(desired.content)
        await _checked(desired, clients)
        await apply_desired(
            activity_id, desired, actor=actor, now=now, reason=reason, action=action
        )
    return await get_activity(activity_id)


async def link_client(
    activity_id: str, client_id: str, *, actor: str, now: datetime, reason: str
) -> dict[str, Any]:
    """Share an entry with one more client (no copy: the same activity, one more link)."""

    def change(content: dict, clients: set[str], scoped: set[ScopedKey]) -> Desired:
        if client_id in clients:
            raise Conflict(
                f"activity already carried out for {client_id}", field="client_id", rule="unique"
            )
        return Desired(clients=clients | {client_id})

    return await _change(
        activity_id, change, actor=actor, now=now, reason=reason, action="register.client-linked"
    )


async def unlink_client(
    activity_id: str, client_id: str, *, actor: str, now: datetime, reason: str
) -> dict[str, Any]:
    def change(content: dict, clients: set[str], scoped: set[ScopedKey]) -> Desired:
        if client_id not in clients:
            raise NotFound(f"activity is not carried out for {client_id}", field="client_id")
        return Desired(clients=clients - {client_id})

    return await _change(
        activity_id, change, actor=actor, now=now, reason=reason, action="register.client-unlinked"
    )


async def retire_activity(
    activity_id: str, *, actor: str, now: datetime, reason: str
) -> dict[str, Any]:
    def change(content: dict, clients: set[str], scoped: set[ScopedKey]) -> Desired:
        if content["status"] == "retired":
            raise Conflict("activity is already retired", field="status", rule="active")
        return Desired(content={**content, "status": "retired"})

    return await _change(
        activity_id, change, actor=actor, now=now, reason=reason, action="register.retired"
    )


def _linking(
    subprocessor_id: str, activities: str, client_id: str | None
) -> Callable[[dict[str, Any], set[str], set[ScopedKey]], Desired]:
    def change(content: dict, clients: set[str], scoped: set[ScopedKey]) -> Desired:
        text = " ".join(activities.split())
        if client_id is None:
            subs = [s for s in content["subprocessors"] if s["subprocessor_id"] != subprocessor_id]
            subs.append({"subprocessor_id": subprocessor_id, "activities": text})
            kept = {k for k in scoped if k[0] != subprocessor_id}
            return Desired(content={**content, "subprocessors": subs}, scoped=kept)
        kept = {k for k in scoped if not (k[0] == subprocessor_id and k[1] == client_id)}
        return Desired(scoped=kept | {(subprocessor_id, client_id, text)})

    return change


async def link_subprocessor(
    activity_id: str,
    subprocessor_id: str,
    *,
    activities: str = "",
    client_id: str | None = None,
    actor: str,
    now: datetime,
    reason: str,
) -> dict[str, Any]:
    """Involve a sub-processor in an activity: for all its clients (a new version), or for one
    client only (a scoped link, e.g. once that client's objection window has closed)."""
    return await _change(
        activity_id,
        _linking(subprocessor_id, activities, client_id),
        actor=actor,
        now=now,
        reason=reason,
        action="register.subprocessor-linked",
    )


def _unlinking(
    subprocessor_id: str, client_id: str | None
) -> Callable[[dict[str, Any], set[str], set[ScopedKey]], Desired]:
    def change(content: dict, clients: set[str], scoped: set[ScopedKey]) -> Desired:
        wide = [s for s in content["subprocessors"] if s["subprocessor_id"] == subprocessor_id]
        mine = {k for k in scoped if k[0] == subprocessor_id and client_id in (None, k[1])}
        if not wide and not mine:
            raise NotFound(
                f"sub-processor {subprocessor_id} is not involved in this activity"
                + (f" for {client_id}" if client_id else ""),
                field="subprocessor_id",
            )
        kept = scoped - mine
        subs = content["subprocessors"]
        if wide:
            subs = [s for s in subs if s["subprocessor_id"] != subprocessor_id]
            if client_id is not None:  # narrow the activity-wide link to the other clients
                # (a client that already has its own link for it keeps that one, not a second)
                own = {k[1] for k in kept if k[0] == subprocessor_id}
                kept |= {
                    (subprocessor_id, other, wide[0]["activities"])
                    for other in clients
                    if other != client_id and other not in own
                }
        return Desired(content={**content, "subprocessors": subs}, scoped=kept)

    return change


async def unlink_subprocessor(
    activity_id: str,
    subprocessor_id: str,
    *,
    client_id: str | None = None,
    actor: str,
    now: datetime,
    reason: str,
) -> dict[str, Any]:
    """Stop involving a sub-processor, for every client or for one client only."""
    return await _change(
        activity_id,
        _unlinking(subprocessor_id, client_id),
        actor=actor,
        now=now,
        reason=reason,
        action="register.subprocessor-unlinked",
    )


async def _current_links(
    activity_id: str,
) -> tuple[dict[str, Any], set[str], set[ScopedKey]]:
    """An activity's current content, open clients and client-scoped sub-processor links:
    what a sub-processor change reads before it edits the entry (404 for an unknown id)."""
    await _activity_row(activity_id)
    current = (await versions_as_of([activity_id], None))[activity_id]
    content = json.loads(current["data_json"])
    return content, await open_clients(activity_id), await open_scoped(activity_id)


async def _apply_checked(
    activity_id: str,
    desired: Desired,
    clients: set[str],
    actor: str,
    now: datetime,
    reason: str,
    action: str,
) -> dict[str, Any]:
    """Check the edited entry, write its new version and trail event, and say if it changed."""
    await _checked(desired, clients)
    _, changed = await apply_desired(
        activity_id, desired, actor=actor, now=now, reason=reason, action=action
    )
    return {"activity_id": activity_id, "changed": changed}


async def apply_subprocessor_activation(
    subprocessor_id: str,
    client_id: str,
    activity_ids: Iterable[str],
    *,
    activities: str = "",
    replaces: str | None = None,
    actor: str,
    now: datetime,
    reason: str,
) -> list[dict[str, Any]]:
    """A sub-processor change took effect for one client: record it on that client's entries.

    For each activity (which must serve the client) the sub-processor is linked for that client
    unless an activity-wide link already covers it; ``replaces`` is unlinked for that client in
    the same change. Idempotent: a second call changes nothing. One transaction, nested in the
    caller's when there is one.
    """
    results = []
    async with db.transaction():
        for activity_id in activity_ids:
            content, clients, scoped = await _current_links(activity_id)
            if client_id not in clients:
                raise ValidationProblem(
                    f"activity {activity_id} is not carried out for {client_id}",
                    field="activity_ids",
                    rule="linked-client",
                )
            desired = Desired(content=content, scoped=set(scoped))
            if replaces is not None and (
                any(s["subprocessor_id"] == replaces for s in content["subprocessors"])
                or any(k[0] == replaces and k[1] == client_id for k in scoped)
            ):
                desired = _unlinking(replaces, client_id)(content, clients, scoped)
            assert desired.content is not None and desired.scoped is not None
            covered = any(
                s["subprocessor_id"] == subprocessor_id for s in desired.content["subprocessors"]
            ) or any(k[0] == subprocessor_id and k[1] == client_id for k in desired.scoped)
            if not covered:
                desired.scoped = desired.scoped | {
                    (subprocessor_id, client_id, " ".join(activities.split()))
                }
            action = "register.subprocessor-activated"
            results.append(
                await _apply_checked(activity_id, desired, clients, actor, now, reason, action)
            )
    return results


async def apply_subprocessor_removal(
    subprocessor_id: str,
    client_id: str,
    activity_ids: Iterable[str],
    *,
    actor: str,
    now: datetime,
    reason: str,
) -> list[dict[str, Any]]:
    """A sub-processor's removal took effect for one client: its entries stop listing it.

    Removals take effect client by client (each client's objection window is its own), so an
    activity-wide link is narrowed to client-scoped links for the activity's other clients
    rather than dropped for everyone; a link scoped to this client is closed. Idempotent: an
    activity that no longer lists the sub-processor for the client is left alone
    (``changed: False``). One version and trail event per activity changed, in one
    transaction nested in the caller's when there is one.
    """
    results = []
    async with db.transaction():
        for activity_id in activity_ids:
            content, clients, scoped = await _current_links(activity_id)
            listed = (
                client_id in clients
                and any(s["subprocessor_id"] == subprocessor_id for s in content["subprocessors"])
            ) or any(k[0] == subprocessor_id and k[1] == client_id for k in scoped)
            if not listed:
                results.append({"activity_id": activity_id, "changed": False})
                continue
            desired = _unlinking(subprocessor_id, client_id)(content, clients, scoped)
            action = "register.subprocessor-removed"
            results.append(
                await _apply_checked(activity_id, desired, clients, actor, now, reason, action)
            )
    return results


async def activity_statuses(activity_ids: Iterable[str]) -> dict[str, str]:
    """The current status (``active`` / ``retired``) of each existing activity among these ids;
    unknown or malformed ids are absent, so a caller can name each one it must refuse."""
    wanted = sorted({a for a in activity_ids if is_valid_id(a, "pra")})
    if not wanted:
        return {}
    rows = await ProcessingActivity.select(ProcessingActivity.id, ProcessingActivity.status).where(
        ProcessingActivity.id.is_in(wanted)
    )
    return {row["id"]: row["status"] for row in rows}
