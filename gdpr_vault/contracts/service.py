"""Use cases for clients and their contracts: each one transaction and one trail event."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec
from piccolo.columns.combination import WhereRaw

from gdpr_vault import db
from gdpr_vault.auth.tokens import Principal
from gdpr_vault.bulk import where_in
from gdpr_vault.contracts import rules
from gdpr_vault.contracts.presets import UnknownPresetError, list_presets, load_preset
from gdpr_vault.contracts.schemas import AmendmentIn, ClientIn, ClientPatch, ContactIn, ContractIn
from gdpr_vault.contracts.tables import Client, Contact, Contract, TermsVersion
from gdpr_vault.contracts.terms import ContractTerms, TermsError, apply_overrides, terms_to_dict
from gdpr_vault.errors import Conflict, NotFound, ValidationProblem
from gdpr_vault.evidence import trail
from gdpr_vault.ids import is_valid_id, new_id
from gdpr_vault.pagination import PageRequest, page
from gdpr_vault.timeutil import utc_iso


def _check(error: str | None, field: str, rule: str) -> None:
    if error:
        raise ValidationProblem(error, field=field, rule=rule)


def validate_client(data: ClientIn) -> None:
    _check(rules.country_error(data.country), "country", "iso-3166-1-alpha-2")
    if data.registration_id is not None:
        _check(
            rules.registration_error(data.registration_scheme, data.registration_id),
            "registration_id",
            f"registration-{data.registration_scheme.lower()}",
        )
    if data.dpo:
        _check(rules.email_error(data.dpo.email), "dpo.email", "email")
    for index, contact in enumerate(data.contacts):
        _check(rules.email_error(contact.email), f"contacts[{index}].email", "email")


def resolve_terms(contract: ContractIn, field: str = "contract") -> ContractTerms:
    """The preset's terms, amended by the contract's overrides and its own time zone."""
    try:
        terms = load_preset(contract.preset).terms
    except UnknownPresetError as exc:
        raise ValidationProblem(str(exc), field=f"{field}.preset", rule="known-preset") from exc
    overrides = dict(contract.overrides)
    if contract.time_zone is not None:
        _check(rules.time_zone_error(contract.time_zone), f"{field}.time_zone", "iana-time-zone")
        overrides["time_zone"] = contract.time_zone
    if contract.end_date and contract.end_date < contract.start_date:
        raise ValidationProblem(
            "end_date is before start_date", field=f"{field}.end_date", rule="after-start"
        )
    try:
        return apply_overrides(terms, overrides) if overrides else terms
    except TermsError as exc:
        raise ValidationProblem(
            str(exc), field=f"{field}.overrides.{exc.field}", rule=exc.rule
        ) from exc


def _contract_rows(
    client_id: str, data: ContractIn, terms: ContractTerms, actor: str, now: datetime
) -> tuple[Contract, TermsVersion]:
    contract_id = new_id("ctr")
    contract = Contract(
        id=contract_id,
        client=client_id,
        reference=data.reference,
        preset=data.preset,
        start_date=data.start_date,
        end_date=data.end_date,
        renewal=data.renewal,
        time_zone=terms.time_zone,
        status="active",
        current_version=1,
        created_at=now,
    )
    version = TermsVersion(
        id=new_id("trm"),
        contract=contract_id,
        version=1,
        **terms_text(terms),
        reason=f"created from preset {data.preset}",
        author=actor,
        created_at=now,
    )
    return contract, version


def _contact_row(client_id: str, contact: ContactIn, now: datetime) -> Contact:
    return Contact(
        id=new_id("con"),
        client=client_id,
        name=contact.name,
        email=contact.email,
        role=contact.role,
        language=contact.language,
        receives_notices=contact.receives_notices,
        created_at=now,
    )


async def create_client(data: ClientIn, actor: str, now: datetime) -> dict[str, Any]:
    validate_client(data)
    terms = resolve_terms(data.contract) if data.contract else None
    client_id = new_id("cli")
    async with db.transaction():
        await Client.insert(
            Client(
                id=client_id,
                legal_name=data.legal_name,
                registration_id=data.registration_id,
                registration_scheme=data.registration_scheme,
                country=data.country,
                language=data.language,
                dpo_name=data.dpo.name if data.dpo else None,
                dpo_email=data.dpo.email if data.dpo else None,
                created_at=now,
            )
        )
        contacts = [_contact_row(client_id, c, now) for c in data.contacts]
        if contacts:
            await Contact.insert(*contacts)
        contract_id = None
        if data.contract and terms:
            contract, version = _contract_rows(client_id, data.contract, terms, actor, now)
            await Contract.insert(contract)
            await TermsVersion.insert(version)
            contract_id = contract.id
        await trail.append(
            now=now,
            actor=actor,
            action="client.created",
            subject_type="client",
            subject_id=client_id,
            client_id=client_id,
            after=msgspec.to_builtins(data),
            details={"contract_id": contract_id, "preset": data.contract and data.contract.preset},
        )
    return await get_client(client_id)


def _client_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "legal_name": row["legal_name"],
        "registration_scheme": row["registration_scheme"],
        "registration_id": row["registration_id"],
        "country": row["country"],
        "language": row["language"],
        "dpo": {"name": row["dpo_name"], "email": row["dpo_email"]} if row["dpo_email"] else None,
        "created_at": utc_iso(row["created_at"]),
    }


async def _client_row(client_id: str) -> dict[str, Any]:
    if not is_valid_id(client_id, "cli"):
        raise NotFound(f"client {client_id} not found", field="client_id")
    row = await Client.select().where(Client.id == client_id).first()
    if row is None:
        raise NotFound(f"client {client_id} not found", field="client_id")
    return row


async def get_client(client_id: str) -> dict[str, Any]:
    out = _client_out(await _client_row(client_id))
    out["contacts"] = await list_contacts(client_id)
    out["contracts"] = await list_contracts(client_id)
    return out


def _name_contains(text: str) -> WhereRaw:
    """Case-insensitive substring match on the legal name, the same on SQLite and PostgreSQL.

    Why not Piccolo's ``ilike``: SQLite has no ILIKE (Piccolo falls back with a warning), and a
    search for "100%" or "a_b" must match those characters, not treat them as wildcards. Case
    folding is ``lower()``: full Unicode on PostgreSQL, ASCII only on the embedded SQLite.
    """
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return WhereRaw("lower(legal_name) LIKE lower({}) ESCAPE '\\'", f"%{escaped}%")


async def list_clients(
    principal: Principal, request: PageRequest, q: str | None, country: str | None
) -> dict[str, Any]:
    query = Client.select().order_by(Client.id).limit(request.limit + 1)
    if principal.role != "dpo":
        query = query.where(Client.id == (principal.client_id or ""))
    if request.cursor:
        query = query.where(Client.id > request.cursor)
    if q:
        query = query.where(_name_contains(q))
    if country:
        query = query.where(Client.country == country.upper())
    rows = await query
    return page([_client_out(r) for r in rows], request)


async def update_client(
    client_id: str, patch: ClientPatch, actor: str, now: datetime
) -> dict[str, Any]:
    if patch.dpo:
        _check(rules.email_error(patch.dpo.email), "dpo.email", "email")
    async with db.transaction():
        before = _client_out(await _client_row(client_id))
        values: dict[Any, Any] = {}
        if patch.legal_name is not None:
            values[Client.legal_name] = patch.legal_name
        if patch.language is not None:
            values[Client.language] = patch.language
        if patch.dpo is not None:
            values[Client.dpo_name] = patch.dpo.name
            values[Client.dpo_email] = patch.dpo.email
        if not values:
            raise ValidationProblem("nothing to change", field="body", rule="non-empty-patch")
        await Client.update(values).where(Client.id == client_id)
        after = _client_out(await _client_row(client_id))
        await trail.append(
            now=now,
            actor=actor,
            action="client.updated",
            subject_type="client",
            subject_id=client_id,
            client_id=client_id,
            before=before,
            after=after,
        )
    return await get_client(client_id)


def _contact_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "role": row["role"],
        "language": row["language"],
        "receives_notices": row["receives_notices"],
    }


async def list_contacts(client_id: str) -> list[dict[str, Any]]:
    rows = await Contact.select().where(Contact.client == client_id).order_by(Contact.id)
    return [_contact_out(r) for r in rows]


async def add_contact(
    client_id: str, contact: ContactIn, actor: str, now: datetime
) -> dict[str, Any]:
    _check(rules.email_error(contact.email), "email", "email")
    async with db.transaction():
        await _client_row(client_id)
        row = _contact_row(client_id, contact, now)
        await Contact.insert(row)
        await trail.append(
            now=now,
            actor=actor,
            action="contact.added",
            subject_type="contact",
            subject_id=row.id,
            client_id=client_id,
            after=msgspec.to_builtins(contact),
        )
    return _contact_out(row.to_dict())


async def remove_contact(client_id: str, contact_id: str, actor: str, now: datetime) -> None:
    async with db.transaction():
        row = await (
            Contact.select()
            .where((Contact.id == contact_id) & (Contact.client == client_id))
            .first()
        )
        if row is None:
            raise NotFound(f"contact {contact_id} not found", field="contact_id")
        await Contact.delete().where(Contact.id == contact_id)
        await trail.append(
            now=now,
            actor=actor,
            action="contact.removed",
            subject_type="contact",
            subject_id=contact_id,
            client_id=client_id,
            before=_contact_out(row),
        )


def _contract_out(row: dict[str, Any], terms: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "client_id": row["client"],
        "reference": row["reference"],
        "preset": row["preset"],
        "start_date": row["start_date"].isoformat(),
        "end_date": row["end_date"].isoformat() if row["end_date"] else None,
        "renewal": row["renewal"],
        "time_zone": row["time_zone"],
        "status": row["status"],
        "terms_version": row["current_version"],
        "created_at": utc_iso(row["created_at"]),
    }
    if terms is not None:
        out["terms"] = terms
    return out


async def list_contracts(client_id: str) -> list[dict[str, Any]]:
    rows = await Contract.select().where(Contract.client == client_id).order_by(Contract.id)
    return [_contract_out(r) for r in rows]


async def _contract_row(client_id: str, contract_id: str) -> dict[str, Any]:
    row = None
    if is_valid_id(contract_id, "ctr"):
        row = await (
            Contract.select()
            .where((Contract.id == contract_id) & (Contract.client == client_id))
            .first()
        )
    if row is None:
        raise NotFound(f"contract {contract_id} not found", field="contract_id")
    return row


async def terms_version(contract_id: str, version: int) -> dict[str, Any]:
    row = await (
        TermsVersion.select()
        .where((TermsVersion.contract == contract_id) & (TermsVersion.version == version))
        .first()
    )
    if row is None:
        raise NotFound(f"terms version {version} not found", field="version")
    return {
        "version": row["version"],
        "reason": row["reason"],
        "author": row["author"],
        "created_at": utc_iso(row["created_at"]),
        "terms": json.loads(row["terms_json"]),
    }


async def get_contract(client_id: str, contract_id: str) -> dict[str, Any]:
    row = await _contract_row(client_id, contract_id)
    current = await terms_version(contract_id, row["current_version"])
    return _contract_out(row, current["terms"])


async def current_terms(client_id: str, contract_id: str) -> tuple[dict[str, Any], ContractTerms]:
    """The contract row and its typed terms, for other capabilities' clocks."""
    from gdpr_vault.contracts.terms import load_terms

    row = await _contract_row(client_id, contract_id)
    version = await terms_version(contract_id, row["current_version"])
    return row, load_terms(version["terms"])


async def list_terms_versions(client_id: str, contract_id: str) -> list[dict[str, Any]]:
    await _contract_row(client_id, contract_id)
    rows = await (
        TermsVersion.select()
        .where(TermsVersion.contract == contract_id)
        .order_by(TermsVersion.version)
    )
    return [
        {
            "version": r["version"],
            "reason": r["reason"],
            "author": r["author"],
            "created_at": utc_iso(r["created_at"]),
            "terms": json.loads(r["terms_json"]),
        }
        for r in rows
    ]


async def add_contract(
    client_id: str, data: ContractIn, actor: str, now: datetime
) -> dict[str, Any]:
    terms = resolve_terms(data, field="body")
    async with db.transaction():
        await _client_row(client_id)
        contract, version = _contract_rows(client_id, data, terms, actor, now)
        await Contract.insert(contract)
        await TermsVersion.insert(version)
        await trail.append(
            now=now,
            actor=actor,
            action="contract.created",
            subject_type="contract",
            subject_id=contract.id,
            client_id=client_id,
            after=terms_to_dict(terms),
            details={"preset": data.preset, "reference": data.reference},
        )
    return await get_contract(client_id, contract.id)


async def amend_contract(
    client_id: str, contract_id: str, data: AmendmentIn, actor: str, now: datetime
) -> dict[str, Any]:
    """A new terms version; earlier deadlines keep the version they were computed under."""
    if not data.overrides:
        raise ValidationProblem(
            "overrides must change something", field="overrides", rule="non-empty"
        )
    async with db.transaction():
        row, terms = await current_terms(client_id, contract_id)
        if row["status"] != "active":
            raise Conflict(f"contract is {row['status']}; only active contracts are amended")
        if "time_zone" in data.overrides:
            _check(
                rules.time_zone_error(str(data.overrides["time_zone"])),
                "overrides.time_zone",
                "iana-time-zone",
            )
        try:
            amended = apply_overrides(terms, data.overrides)
        except TermsError as exc:
            raise ValidationProblem(
                str(exc), field=f"overrides.{exc.field}", rule=exc.rule
            ) from exc
        new_version = row["current_version"] + 1
        await TermsVersion.insert(
            TermsVersion(
                id=new_id("trm"),
                contract=contract_id,
                version=new_version,
                **terms_text(amended),
                reason=data.reason,
                author=actor,
                created_at=now,
            )
        )
        await Contract.update(
            {Contract.current_version: new_version, Contract.time_zone: amended.time_zone}
        ).where(Contract.id == contract_id)
        await trail.append(
            now=now,
            actor=actor,
            action="contract.amended",
            subject_type="contract",
            subject_id=contract_id,
            client_id=client_id,
            before=terms_to_dict(terms),
            after=terms_to_dict(amended),
            details={"version": new_version},
        )
    return await get_contract(client_id, contract_id)


async def contract_clock(
    client_id: str, contract_id: str, clock: str, start_text: str
) -> dict[str, Any]:
    """What a clause's clock gives for an event at ``start``: the deadline and its reasons."""
    from gdpr_vault.clocks import ClockError
    from gdpr_vault.contracts.clocks import (
        ClockNotInContractError,
        UnknownClockError,
        contract_deadline,
    )
    from gdpr_vault.inputs import parse_input_instant

    start = parse_input_instant(start_text, "start", syntax_rule="iso-8601-with-offset")
    row, terms = await current_terms(client_id, contract_id)
    try:
        deadline = contract_deadline(terms, clock, start)
    except UnknownClockError as exc:
        raise NotFound(str(exc), field="clock") from exc
    except ClockNotInContractError as exc:
        raise Conflict(str(exc), field="clock", rule="clock-in-contract") from exc
    except (ClockError, TermsError) as exc:
        raise Conflict(str(exc), field="clock", rule="computable") from exc
    return {"clock": clock, "terms_version": row["current_version"], **deadline.to_dict()}


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def clients_by_id(client_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Many clients in a few queries: fan-outs (breaches, notices) read thousands at once."""
    valid = [c for c in dict.fromkeys(client_ids) if is_valid_id(c, "cli")]
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(valid, 5000):
        rows = await Client.select(
            Client.id, Client.legal_name, Client.language, Client.dpo_name, Client.dpo_email
        ).where(where_in(Client.id, chunk))
        found.update({r["id"]: r for r in rows})
    return found


async def notice_contacts_by_client(client_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Contacts receiving notices, by client, in ``list_contacts`` order: bulk fan-outs."""
    found: dict[str, list[dict[str, Any]]] = {}
    for chunk in _chunks(list(dict.fromkeys(client_ids)), 5000):
        rows = await (
            Contact.select(
                Contact.id,
                Contact.client,
                Contact.name,
                Contact.email,
                Contact.language,
                Contact.receives_notices,
            )
            .where(where_in(Contact.client, chunk) & Contact.receives_notices.eq(True))
            .order_by(Contact.id)
        )
        for row in rows:
            found.setdefault(row["client"], []).append(row)
    return found


def terms_text(terms: ContractTerms) -> dict[str, str]:
    """A terms version's stored text and its SHA-256 (the columns of :class:`TermsVersion`)."""
    text = json.dumps(terms_to_dict(terms), sort_keys=True)
    return {"terms_json": text, "terms_sha256": hashlib.sha256(text.encode()).hexdigest()}


#: Terms texts by their SHA-256: versions are never rewritten, and thousands of contracts made
#: from one preset share one text, so a fan-out fetches each distinct text once per process.
_TEXTS: dict[str, str] = {}
_TEXTS_MAX = 512


async def _terms_texts(contract_ids: Sequence[str]) -> dict[tuple[str, int], str]:
    """Every terms version of these contracts, by (contract, version), one query per 5,000.

    The query reads digests; only the texts this process has not seen cross (about 10 KB
    each: a 10,000-client publication read 108 MB of identical texts before). Contracts that
    share a text get the same string object, so its hash is computed once by the callers'
    parse caches. A version without a digest, or whose text does not match it, is read by id.
    """
    rows: list[tuple[tuple[str, int], str, str | None]] = []
    for chunk in _chunks(list(contract_ids), 5000):
        rows.extend(
            ((v["contract"], v["version"]), v["id"], v["terms_sha256"])
            for v in await TermsVersion.select(
                TermsVersion.id,
                TermsVersion.contract,
                TermsVersion.version,
                TermsVersion.terms_sha256,
            ).where(where_in(TermsVersion.contract, chunk))
        )
    known = {d: _TEXTS[d] for _, _, d in rows if d is not None and d in _TEXTS}
    unseen = {d: row_id for _, row_id, d in rows if d is not None and d not in known}
    fetched = await _texts_by_id(list(unseen.values()))
    for digest, row_id in unseen.items():
        text = fetched[row_id]
        if hashlib.sha256(text.encode()).hexdigest() == digest:
            known[digest] = text
    if len(_TEXTS) + len(known) > _TEXTS_MAX:
        _TEXTS.clear()
    _TEXTS.update(known)
    direct = await _texts_by_id([row_id for _, row_id, d in rows if d not in known])
    return {
        pair: known[digest] if digest in known else direct[row_id] for pair, row_id, digest in rows
    }


async def _texts_by_id(ids: Sequence[str]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for chunk in _chunks(list(ids), 5000):
        for v in await TermsVersion.select(TermsVersion.id, TermsVersion.terms_json).where(
            where_in(TermsVersion.id, chunk)
        ):
            texts[v["id"]] = v["terms_json"]
    return texts


async def terms_texts(pairs: Sequence[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The terms JSON of these (contract, version) pairs."""
    texts = await _terms_texts(list(dict.fromkeys(contract for contract, _ in pairs)))
    return {pair: texts[pair] for pair in pairs if pair in texts}


async def active_contracts_by_client(client_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Active contracts with their current terms JSON, by client: the bulk ``current_terms``."""
    contracts: dict[str, list[dict[str, Any]]] = {}
    for chunk in _chunks(list(client_ids), 5000):
        rows = await Contract.select(
            Contract.id,
            Contract.client,
            Contract.reference,
            Contract.time_zone,
            Contract.current_version,
        ).where(where_in(Contract.client, chunk) & (Contract.status == "active"))
        if not rows:
            continue
        texts = await _terms_texts([r["id"] for r in rows])
        for row in rows:
            row["terms_json"] = texts.get((row["id"], row["current_version"]))
            if row["terms_json"] is not None:
                contracts.setdefault(row["client"], []).append(row)
    return contracts


def presets_out() -> list[dict[str, Any]]:
    return [msgspec.to_builtins(p) for p in list_presets()]


def preset_out(key: str) -> dict[str, Any]:
    try:
        preset = load_preset(key)
    except UnknownPresetError as exc:
        raise NotFound(str(exc), field="key") from exc
    return msgspec.to_builtins(preset)
