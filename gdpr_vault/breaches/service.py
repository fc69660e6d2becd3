"""Breach use cases: record, correct, fan out, notify in phases, close; and the views.

Each use case validates first (a refused request writes nothing), then runs in one
``db.transaction()`` and appends one trail event per state change (ids and digests only).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from piccolo.columns.combination import Combinable

from gdpr_vault import db
from gdpr_vault.breaches import rules
from gdpr_vault.breaches.schemas import (
    BreachFactsIn,
    CloseIn,
    CorrectionIn,
    MarkClientsIn,
    NoticeIn,
)
from gdpr_vault.breaches.tables import Breach, BreachFactsVersion, BreachNotice, BreachObligation
from gdpr_vault.bulk import where_in
from gdpr_vault.clocks import ClockError
from gdpr_vault.contracts import service as contracts_service
from gdpr_vault.contracts.terms import ContractTerms, TermsError, load_terms
from gdpr_vault.errors import Conflict, NotFound, ValidationProblem
from gdpr_vault.evidence import trail
from gdpr_vault.ids import is_valid_id, new_id
from gdpr_vault.inputs import check_input_date
from gdpr_vault.jobs.queue import enqueue
from gdpr_vault.notifications import service as notifications
from gdpr_vault.pagination import PageRequest, page
from gdpr_vault.settings import get_settings
from gdpr_vault.timeutil import utc_iso

ESCALATION_JOB = "breach.escalation"
_DATETIME_FIELDS = ("aware_at", "occurred_at", "ended_at")


# -- settings and small helpers ------------------------------------------------------------------


def default_notice_duration() -> str | None:
    """BREACH_DEFAULT_NOTICE (e.g. "72 hours"): the clock for contracts silent on breaches."""
    settings = get_settings()
    value = settings.breach_default_notice
    if value and not rules.valid_duration(value):
        raise Conflict(
            f"the BREACH_DEFAULT_NOTICE setting {value!r} is not a duration (e.g. '72 hours')",
            field="BREACH_DEFAULT_NOTICE",
            rule="valid-setting",
        )
    return value or None


def _parse_instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- facts ------------------------------------------------------------------------------------


def facts_from(data: BreachFactsIn, now: datetime) -> dict[str, Any]:
    """Check a facts body and return it as stored: plain JSON, instants in UTC with ``Z``."""
    for name in _DATETIME_FIELDS:
        value = getattr(data, name)
        if value is None:
            continue
        check_input_date(value, name)
    errors = rules.date_errors(data.aware_at, data.occurred_at, data.ended_at, now)
    if errors:
        first = errors[0]
        raise ValidationProblem(first.message, field=first.field, rule=first.rule)
    if len(set(data.nature)) != len(data.nature):
        raise ValidationProblem("nature repeats a value", field="nature", rule="unique")
    seen: set[str] = set()
    for index, figures in enumerate(data.per_client):
        if figures.client_id in seen:
            raise ValidationProblem(
                f"client {figures.client_id} appears twice",
                field=f"per_client[{index}].client_id",
                rule="unique",
            )
        seen.add(figures.client_id)
    facts: dict[str, Any] = msgspec.to_builtins(data)
    for name in _DATETIME_FIELDS:
        facts[name] = utc_iso(getattr(data, name))
    return facts


async def _check_per_client(facts: Mapping[str, Any], field: str = "per_client") -> None:
    ids = [p["client_id"] for p in facts.get("per_client") or ()]
    known = await contracts_service.clients_by_id(ids)
    for index, client_id in enumerate(ids):
        if client_id not in known:
            raise ValidationProblem(
                f"client {client_id} not found",
                field=f"{field}[{index}].client_id",
                rule="known-client",
            )


def _problem_from_msgspec(exc: msgspec.ValidationError, prefix: str) -> ValidationProblem:
    text = str(exc)
    field = prefix
    if "at `$." in text:
        field = f"{prefix}.{text.split('at `$.', 1)[1].rstrip('`')}"
    rule = "schema"
    if "unknown field" in text:
        rule = "unknown-field"
        name = text.split("`", 2)[1] if "`" in text else ""
        field = f"{field}.{name}" if name else field
    elif "missing required field" in text:
        rule = "required"
    return ValidationProblem(text, field=field, rule=rule)


# -- reading rows ------------------------------------------------------------------------------


async def _breach_row(breach_id: str, *, lock: bool = False) -> dict[str, Any]:
    """The breach; with ``lock`` (inside a transaction) held ``FOR UPDATE`` on PostgreSQL, so
    notices to its clients are numbered one sending after the other (SQLite's write
    transactions are serial already)."""
    row = None
    if is_valid_id(breach_id, "brc"):
        query = Breach.select().where(Breach.id == breach_id).first()
        row = await (query.lock_rows("UPDATE") if lock and db.is_postgres() else query)
    if row is None:
        raise NotFound(f"breach {breach_id} not found", field="breach_id")
    return row


async def _facts(breach_id: str, version: int) -> dict[str, Any]:
    row = await (
        BreachFactsVersion.select(BreachFactsVersion.facts_json)
        .where((BreachFactsVersion.breach == breach_id) & (BreachFactsVersion.version == version))
        .first()
    )
    if row is None:
        raise NotFound(f"facts version {version} not found", field="version")
    return json.loads(row["facts_json"])


def _require_open(breach: Mapping[str, Any]) -> None:
    if breach["status"] != "open":
        raise Conflict(f"breach {breach['id']} is closed", field="breach_id", rule="breach-open")


# -- record and correct ------------------------------------------------------------------------


async def create_breach(data: BreachFactsIn, actor: str, now: datetime) -> dict[str, Any]:
    facts = facts_from(data, now)
    await _check_per_client(facts)
    breach_id = new_id("brc")
    async with db.transaction():
        await Breach.insert(
            Breach(
                id=breach_id,
                title=data.title,
                status="open",
                occurred_at=data.occurred_at,
                aware_at=data.aware_at,
                current_version=1,
                created_at=now,
                created_by=actor,
            )
        )
        await BreachFactsVersion.insert(
            BreachFactsVersion(
                id=new_id("bfv"),
                breach=breach_id,
                version=1,
                facts_json=json.dumps(facts, sort_keys=True, ensure_ascii=False),
                reason="initial record",
                author=actor,
                created_at=now,
            )
        )
        await trail.append(
            now=now,
            actor=actor,
            action="breach.recorded",
            subject_type="breach",
            subject_id=breach_id,
            after=facts,
            details={"version": 1, "aware_at": facts["aware_at"], "nature": facts["nature"]},
        )
    return await get_breach(breach_id, now)


async def correct_facts(
    breach_id: str, data: CorrectionIn, actor: str, now: datetime
) -> dict[str, Any]:
    """A new version of the facts; pending clocks follow a corrected ``aware_at``."""
    breach = await _breach_row(breach_id)
    _require_open(breach)
    current = await _facts(breach_id, breach["current_version"])
    if not data.changes:
        raise ValidationProblem("changes is empty", field="changes", rule="non-empty")
    merged = {k: v for k, v in current.items()}
    merged.update(data.changes)
    try:
        parsed = msgspec.convert(merged, BreachFactsIn, strict=True)  # 0 is no date
    except msgspec.ValidationError as exc:
        raise _problem_from_msgspec(exc, "changes") from exc
    except ValidationProblem as exc:  # a date-time refused as the facts were decoded
        exc.field = f"changes.{exc.field}"
        raise
    try:
        facts = facts_from(parsed, now)
    except ValidationProblem as exc:
        exc.field = f"changes.{exc.field}"
        raise
    await _check_per_client(facts, "changes.per_client")
    if facts == current:
        raise ValidationProblem(
            "the changes leave the facts as they are", field="changes", rule="changes-something"
        )
    changed = sorted(k for k in facts if facts.get(k) != current.get(k))
    version = breach["current_version"] + 1
    aware_moved = facts["aware_at"] != current["aware_at"]
    async with db.transaction():
        fresh = await _breach_row(breach_id)
        if fresh["current_version"] != breach["current_version"]:
            raise Conflict(
                "the facts changed meanwhile; read them again", field="changes", rule="stale"
            )
        _require_open(fresh)
        await BreachFactsVersion.insert(
            BreachFactsVersion(
                id=new_id("bfv"),
                breach=breach_id,
                version=version,
                facts_json=json.dumps(facts, sort_keys=True, ensure_ascii=False),
                reason=data.reason,
                author=actor,
                created_at=now,
            )
        )
        await Breach.update(
            {
                Breach.title: parsed.title,
                Breach.occurred_at: parsed.occurred_at,
                Breach.aware_at: parsed.aware_at,
                Breach.current_version: version,
            }
        ).where(Breach.id == breach_id)
        moved = await _restart_pending_clocks(breach_id, parsed.aware_at) if aware_moved else 0
        await trail.append(
            now=now,
            actor=actor,
            action="breach.facts_corrected",
            subject_type="breach",
            subject_id=breach_id,
            before=current,
            after=facts,
            details={"version": version, "changed": changed, "clocks_recomputed": moved},
        )
    return await get_breach(breach_id, now)


async def _restart_pending_clocks(breach_id: str, aware_at: datetime) -> int:
    """Recompute the deadlines not yet met after ``aware_at`` was corrected; reschedule alerts.

    Obligations already notified keep the deadline and lateness recorded when they were sent.
    """
    rows = await BreachObligation.select().where(
        (BreachObligation.breach == breach_id) & (BreachObligation.status == "pending")
    )
    start = _utc(aware_at)
    explained: dict[tuple[Any, ...], tuple[datetime, str, str]] = {}
    for row in rows:
        key = (
            start,
            row["duration"],
            row["time_zone"],
            row["calendar"],
            row["business_hours"],
            row["extend"],
            row["clause"],
        )
        if key not in explained:
            dl = rules.deadline(*key)
            explained[key] = (dl.due, dl.display, json.dumps(list(rules.explanation(*key))))
        due, display, explanation = explained[key]
        await BreachObligation.update(
            {
                BreachObligation.start_at: start,
                BreachObligation.due_at: due,
                BreachObligation.due_display: display,
                BreachObligation.explanation_json: explanation,
            }
        ).where(BreachObligation.id == row["id"])
    await _schedule_escalations(breach_id, {(start, due) for due, _, _ in explained.values()})
    return len(rows)


# -- fan-out -----------------------------------------------------------------------------------


def _choose_contract(
    contracts: Sequence[Mapping[str, Any]], wanted: str | None
) -> Mapping[str, Any] | None:
    if wanted is None:
        return None
    return next((c for c in contracts if c["id"] == wanted), None)


def _plan_obligation(
    *,
    contracts: Sequence[Mapping[str, Any]],
    start: datetime,
    default: str | None,
    terms_cache: dict[str, ContractTerms],
) -> dict[str, Any]:
    """The deadline for one client: each active contract's clock, the earliest one wins.

    Several active contracts: the earliest deadline is the protective reading for the client.
    No active contract: GDPR Art. 33(2) with the product default, in Europe/Paris, calendar FR.
    """
    candidates: list[dict[str, Any]] = []
    for contract in contracts:
        text = contract["terms_json"]
        terms = terms_cache.get(text)
        if terms is None:
            terms = terms_cache[text] = load_terms(json.loads(text))
        term = terms.breach_notice
        period = rules.notice_period(term, default, has_contract=True)
        business_hours = (
            terms.business_hours if rules.needs_business_hours(period.duration) else None
        )
        key = (
            start,
            period.duration,
            contract["time_zone"] or terms.time_zone,
            terms.calendar,
            business_hours,
            term.extend,
            period.clause,
        )
        candidates.append(
            {
                "key": key,
                "due": rules.deadline(*key).due,
                "contract": contract["id"],
                "terms_version": contract["current_version"],
                "source": period.source,
            }
        )
    if not candidates:
        period = rules.notice_period(None, default, has_contract=False)
        key = (
            start,
            period.duration,
            rules.DEFAULT_TIME_ZONE,
            rules.DEFAULT_CALENDAR,
            None,
            False,
            period.clause,
        )
        candidates.append(
            {
                "key": key,
                "due": rules.deadline(*key).due,
                "contract": None,
                "terms_version": None,
                "source": period.source,
            }
        )
    return min(candidates, key=lambda c: c["due"])


async def mark_affected(
    breach_id: str, data: MarkClientsIn, actor: str, now: datetime
) -> dict[str, Any]:
    """Open one notice obligation per affected client, each on its own contract's clock."""
    breach = await _breach_row(breach_id)
    _require_open(breach)
    wanted = [c.client_id for c in data.clients]
    seen: set[str] = set()
    for index, client_id in enumerate(wanted):
        if client_id in seen:
            raise ValidationProblem(
                f"client {client_id} is listed twice",
                field=f"clients[{index}].client_id",
                rule="unique",
            )
        seen.add(client_id)
    clients = await contracts_service.clients_by_id(wanted)
    for index, client_id in enumerate(wanted):
        if client_id not in clients:
            raise ValidationProblem(
                f"client {client_id} not found",
                field=f"clients[{index}].client_id",
                rule="known-client",
            )
    contracts = await contracts_service.active_contracts_by_client(wanted)
    for index, item in enumerate(data.clients):
        if (
            item.contract_id is not None
            and _choose_contract(contracts.get(item.client_id, ()), item.contract_id) is None
        ):
            raise ValidationProblem(
                f"contract {item.contract_id} is not an active contract of client {item.client_id}",
                field=f"clients[{index}].contract_id",
                rule="active-contract-of-client",
            )
    default = default_notice_duration()
    start = _utc(breach["aware_at"])
    terms_cache: dict[str, ContractTerms] = {}
    plans: list[tuple[str, dict[str, Any]]] = []
    for index, item in enumerate(data.clients):
        pool = contracts.get(item.client_id, [])
        if item.contract_id is not None:
            pool = [c for c in pool if c["id"] == item.contract_id]
        try:
            plan = _plan_obligation(
                contracts=pool,
                start=start,
                default=default,
                terms_cache=terms_cache,
            )
        except (ClockError, TermsError) as exc:
            raise Conflict(
                f"client {item.client_id}: the breach clock cannot be computed: {exc}",
                field=f"clients[{index}].client_id",
                rule="computable-deadline",
            ) from exc
        plans.append((item.client_id, plan))
    async with db.transaction():
        fresh = await _breach_row(breach_id)
        _require_open(fresh)
        if _utc(fresh["aware_at"]) != start:
            raise Conflict("aware_at changed meanwhile; retry", field="aware_at", rule="stale")
        existing = {
            r["client"]
            for chunk in _chunks(wanted, 5000)
            for r in await BreachObligation.select(BreachObligation.client).where(
                (BreachObligation.breach == breach_id) & where_in(BreachObligation.client, chunk)
            )
        }
        explanations: dict[tuple[Any, ...], tuple[str, str]] = {}
        rows: list[dict[str, Any]] = []
        for client_id, plan in plans:
            if client_id in existing:
                continue
            key = plan["key"]
            if key not in explanations:
                dl = rules.deadline(*key)
                explanations[key] = (dl.display, json.dumps(list(rules.explanation(*key))))
            display, explanation = explanations[key]
            rows.append(
                {
                    "id": new_id("bno"),
                    "breach": breach_id,
                    "client": client_id,
                    "contract": plan["contract"],
                    "terms_version": plan["terms_version"],
                    "duration": key[1],
                    "duration_source": plan["source"],
                    "clause": key[6],
                    "time_zone": key[2],
                    "calendar": key[3],
                    "business_hours": key[4],
                    "extend": key[5],
                    "start_at": start,
                    "due_at": plan["due"],
                    "due_display": display,
                    "explanation_json": explanation,
                    "status": "pending",
                    "initial_notice": None,
                    "notified_at": None,
                    "late_by_seconds": None,
                    "late_reason": None,
                    "marked_at": now,
                    "marked_by": actor,
                }
            )
        await _insert_obligations(rows)
        if rows:
            await _schedule_escalations(breach_id, {(start, r["due_at"]) for r in rows})
            marked_ids = sorted(r["client"] for r in rows)
            await trail.append(
                now=now,
                actor=actor,
                action="breach.clients_marked",
                subject_type="breach",
                subject_id=breach_id,
                after={"client_ids": marked_ids},
                details={
                    "count": len(rows),
                    "obligation_ids_first": [r["id"] for r in rows[:20]],
                },
            )
    return {
        "breach_id": breach_id,
        "marked": len(rows),
        "already_marked": sorted(existing),
        "obligations": [_obligation_out(r, now, clients.get(r["client"])) for r in rows[:500]],
    }


_OBLIGATION_COLUMNS = tuple(c._meta.db_column_name for c in BreachObligation._meta.columns)


def _sql_value(value: Any, postgres: bool) -> Any:
    """A value as the JSON bulk insert hands it to the database (Piccolo's own encodings)."""
    if isinstance(value, datetime):
        utc = value.astimezone(UTC)
        return utc.isoformat() if postgres else str(utc)  # SQLite: Piccolo's adapter format
    if isinstance(value, bool) and not postgres:
        return int(value)
    return value


async def _insert_obligations(rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many obligations with one statement per chunk: a JSON array the database expands.

    Building one Piccolo object and bound parameter set per row costs far more than the
    deadline computations; this keeps a 10,000-client fan-out close to a plain bulk insert.
    """
    if not rows:
        return
    postgres = db.is_postgres()
    names = ", ".join(f'"{c}"' for c in _OBLIGATION_COLUMNS)
    if postgres:
        sql = (
            f"INSERT INTO breach_obligation ({names}) SELECT {names} FROM "
            "json_populate_recordset(NULL::breach_obligation, {}::text::json)"
        )
    else:
        picks = ", ".join(f"json_extract(value, '$.{c}')" for c in _OBLIGATION_COLUMNS)
        sql = f"INSERT INTO breach_obligation ({names}) SELECT {picks} FROM json_each({{}})"
    for chunk in _chunks(rows, 5000):
        payload = [{c: _sql_value(r[c], postgres) for c in _OBLIGATION_COLUMNS} for r in chunk]
        await BreachObligation.raw(sql, json.dumps(payload, ensure_ascii=False))


async def _schedule_escalations(
    breach_id: str, clocks: Iterable[tuple[datetime, datetime]]
) -> None:
    """DPO alerts at 50%, 75%, 90% of each distinct period and at expiry (one job per instant).

    Clients whose clocks share a start and a deadline share their alerts, so a fan-out to
    thousands of clients on a handful of contracts schedules a handful of jobs.
    """
    for start, due in sorted(set(clocks)):
        for threshold, run_at in rules.escalation_instants(start, due):
            await enqueue(
                ESCALATION_JOB,
                {"breach_id": breach_id, "due": utc_iso(due), "threshold": threshold},
                run_at=run_at,
                dedupe_key=f"{ESCALATION_JOB}:{breach_id}:{utc_iso(due)}:{round(threshold * 100)}",
            )


async def escalate(payload: Mapping[str, Any], now: datetime) -> str | None:
    """The escalation job: alert the DPO when obligations on this clock are still unnotified.

    Idempotent: the alert's dedupe key is the job's, so a rerun queues nothing new.
    """
    breach_id = str(payload["breach_id"])
    due = _parse_instant(str(payload["due"]))
    threshold = float(payload["threshold"])
    async with db.transaction():
        breach = await Breach.select().where(Breach.id == breach_id).first()
        if breach is None or breach["status"] != "open" or due is None:
            return None
        rows = await BreachObligation.select(
            BreachObligation.id, BreachObligation.client, BreachObligation.due_at
        ).where((BreachObligation.breach == breach_id) & (BreachObligation.status == "pending"))
        pending = [r for r in rows if _utc(r["due_at"]) == due]
        if not pending:
            return None
        names = await contracts_service.clients_by_id([r["client"] for r in pending[:20]])
        percent = round(threshold * 100)
        facts = {
            "breach_id": breach_id,
            "title": breach["title"],
            "threshold": f"{percent}%" if threshold < 1 else "deadline reached",
            "deadline": utc_iso(due),
            "time_left": rules.format_span(due - now),
            "unnotified_clients": len(pending),
            "clients": ", ".join(
                f"{names[r['client']]['legal_name']} ({r['client']})"
                for r in pending[:20]
                if r["client"] in names
            ),
        }
        key = f"{ESCALATION_JOB}:{breach_id}:{utc_iso(due)}:{percent}"
        alert_id = await notifications.queue_dpo_alert(
            kind="breach.escalation", facts=facts, now=now, dedupe_key=key
        )
        if alert_id is None:
            return None
        await trail.append(
            now=now,
            actor="system",
            action="breach.escalated",
            subject_type="breach",
            subject_id=breach_id,
            details={
                "threshold": threshold,
                "deadline": utc_iso(due),
                "unnotified": len(pending),
                "alert_notice_id": alert_id,
            },
        )
    return alert_id


# -- notices -----------------------------------------------------------------------------------


def _notice_content(
    *,
    phase: str,
    breach: Mapping[str, Any],
    facts: Mapping[str, Any],
    obligation: Mapping[str, Any],
    client: Mapping[str, Any],
    message: str | None,
    sent_at: datetime,
    late_by: int | None,
    late_reason: str | None,
    sequence: int,
    parent_notice_id: str | None,
) -> dict[str, Any]:
    """What one client receives: its view of the facts, the gaps, and what it needs next."""
    view = rules.client_facts(facts, client["id"])
    missing = rules.missing_items(view)
    controller = rules.controller_deadline(sent_at, obligation["time_zone"], obligation["calendar"])
    obligation_view = {
        "deadline": utc_iso(obligation["due_at"]),
        "deadline_display": obligation["due_display"],
        "duration": obligation["duration"],
        "duration_source": obligation["duration_source"],
    }
    client_view = {
        "id": client["id"],
        "legal_name": client["legal_name"],
        "dpo": (
            {"name": client["dpo_name"], "email": client["dpo_email"]}
            if client.get("dpo_email")
            else None
        ),
    }
    return {
        "breach_id": breach["id"],
        "phase": phase,
        "sequence": sequence,
        "initial_notice_id": parent_notice_id,
        "facts_version": breach["current_version"],
        "sent_at": utc_iso(sent_at),
        "message": message,
        "facts": view,
        "missing_art_33_3": missing,
        "processor_deadline": obligation_view,
        "late_by_seconds": late_by,
        "late_reason": late_reason,
        "controller_next_steps": {
            "supervisory_authority_deadline_if_aware_at_receipt": controller.to_dict()["deadline"],
            "supervisory_authority_deadline_display": controller.display,
            "rule": "GDPR Art. 33(1): notify the supervisory authority (CNIL) within 72 hours "
            "of becoming aware; EDPB Guidelines 9/2022: in principle once informed by the "
            "processor. Art. 34: decide whether the data subjects must be informed.",
        },
        "cnil_form": rules.cnil_form(
            facts=view,
            breach={**breach, "status": breach["status"]},
            processor_name=get_settings().processor_name,
            client=client_view,
            obligation=obligation_view,
            notices=[{"phase": "initial", "sequence": 0, "sent_at": utc_iso(sent_at)}]
            if phase == "initial"
            else [],
        ),
    }


def _template_facts(content: Mapping[str, Any], client_language: str) -> dict[str, Any]:
    """The flat facts the breach.* templates read (StrictUndefined: every key is present)."""
    facts = content["facts"]
    contact = facts.get("contact_point") or {}
    return {
        "breach_id": content["breach_id"],
        "phase": content["phase"],
        "sequence": content["sequence"],
        "initial_notice_id": content["initial_notice_id"] or "",
        "facts_version": content["facts_version"],
        "title": facts["title"],
        "description": facts.get("description") or "",
        "nature": list(facts.get("nature") or []),
        "occurred_at": facts.get("occurred_at") or "",
        "aware_at": facts["aware_at"],
        "detection_method": facts["detection_method"],
        "systems": list(facts.get("systems") or []),
        "data_categories": list(facts.get("data_categories") or []),
        "special_categories": list(facts.get("special_categories") or []),
        "subject_categories": list(facts.get("subject_categories") or []),
        "data_subjects_approx": facts.get("data_subjects_approx"),
        "records_approx": facts.get("records_approx"),
        "likely_consequences": facts.get("likely_consequences") or "",
        "measures_taken": list(facts.get("measures_taken") or []),
        "measures_proposed": list(facts.get("measures_proposed") or []),
        "contact_name": contact.get("name") or "",
        "contact_email": contact.get("email") or "",
        "contact_phone": contact.get("phone") or "",
        "cross_border": facts.get("cross_border"),
        "data_unintelligible": facts.get("data_unintelligible"),
        "message": content["message"] or "",
        "missing": [m["item"] for m in content["missing_art_33_3"]],
        "deadline_display": content["processor_deadline"]["deadline_display"],
        "late_by": rules.format_span_seconds(content["late_by_seconds"]),
        "late_reason": content["late_reason"] or "",
        "controller_deadline_display": content["controller_next_steps"][
            "supervisory_authority_deadline_display"
        ],
        "attachment": f"breach-{content['breach_id']}-facts.json",
        "language": client_language,
    }


async def send_notices(breach_id: str, data: NoticeIn, actor: str, now: datetime) -> dict[str, Any]:
    """The initial notice or a follow-up, to the listed affected clients or to all of them."""
    breach = await _breach_row(breach_id)
    _require_open(breach)
    obligations = {
        r["client"]: r
        for r in await BreachObligation.select().where(BreachObligation.breach == breach_id)
    }
    targets = _notice_targets(data, obligations)
    late = [
        o["client"]
        for o in targets
        if data.phase == "initial" and rules.lateness(_utc(o["due_at"]), now) > 0
    ]
    if late and not data.late_reason:
        raise ValidationProblem(
            f"the notice deadline has passed for {len(late)} client(s): say why it is late",
            field="late_reason",
            rule="required-when-late",
            extra={"late_clients": late},
        )
    facts = await _facts(breach_id, breach["current_version"])
    clients = await contracts_service.clients_by_id([o["client"] for o in targets])
    kind = f"breach.{data.phase}"
    sent: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    async with db.transaction():
        fresh = await _breach_row(breach_id, lock=True)
        _require_open(fresh)
        if fresh["current_version"] != breach["current_version"]:
            raise Conflict("the facts changed meanwhile; retry", field="breach_id", rule="stale")
        # Counted inside the transaction: two follow-ups sent at once got the same number.
        sequences: dict[str, int] = {}
        if data.phase == "followup":
            for chunk in _chunks([o["id"] for o in targets], 5000):
                for r in await BreachNotice.select(BreachNotice.obligation).where(
                    where_in(BreachNotice.obligation, chunk)
                ):
                    sequences[r["obligation"]] = sequences.get(r["obligation"], 0) + 1
        planned: list[tuple[Any, ...]] = []  # per target, what its notice rows need
        requests: list[notifications.NoticeRequest] = []
        for obligation in targets:
            client = {**clients[obligation["client"]]}
            current = (
                await BreachObligation.select(
                    BreachObligation.status, BreachObligation.initial_notice
                )
                .where(BreachObligation.id == obligation["id"])
                .first()
            )
            if data.phase == "initial" and current and current["status"] != "pending":
                raise Conflict(
                    f"client {client['id']} already received the initial notice",
                    field="clients",
                    rule="initial-already-sent",
                )
            late_by = rules.lateness(_utc(obligation["due_at"]), now)
            is_initial = data.phase == "initial"
            notice_id = new_id("bnn")
            sequence = 0 if is_initial else sequences.get(obligation["id"], 0)
            parent = None if is_initial else obligation["initial_notice"]
            content = _notice_content(
                phase=data.phase,
                breach=breach,
                facts=facts,
                obligation=obligation,
                client=client,
                message=data.message,
                sent_at=now,
                late_by=late_by if is_initial else None,
                late_reason=data.late_reason if is_initial and late_by else None,
                sequence=sequence,
                parent_notice_id=parent,
            )
            attachment = notifications.Attachment(
                filename=f"breach-{breach_id}-facts.json",
                content_type="application/json",
                data=json.dumps(content, indent=2, ensure_ascii=False, sort_keys=True).encode(),
            )
            requests.append(
                notifications.NoticeRequest(
                    client_id=client["id"],
                    kind=kind,
                    subject_type="breach_notice",
                    subject_id=notice_id,
                    facts=_template_facts(content, client.get("language") or "fr"),
                    channels=tuple(data.channels),
                    attachments=(attachment,),
                    requires_receipt=True,
                )
            )
            planned.append((obligation, client, notice_id, sequence, parent, late_by, content))
        # every affected client's notice in one bulk write (one trail event per 500 notices)
        refs = await notifications.queue_notices(requests, now=now, actor=actor)
        is_initial = data.phase == "initial"
        for (obligation, client, notice_id, sequence, parent, late_by, content), ref in zip(
            planned, refs, strict=True
        ):
            row = BreachNotice(
                id=notice_id,
                breach=breach_id,
                obligation=obligation["id"],
                client=client["id"],
                phase=data.phase,
                sequence=sequence,
                parent_notice=parent,
                facts_version=breach["current_version"],
                content_json=json.dumps(content, sort_keys=True, ensure_ascii=False),
                missing_json=json.dumps(content["missing_art_33_3"]),
                message=data.message,
                notification_id=ref.notice_id,
                channels_json=json.dumps(list(data.channels)),
                sent_at=now,
                sent_by=actor,
                late_by_seconds=content["late_by_seconds"],
                late_reason=content["late_reason"],
            )
            await BreachNotice.insert(row)
            if is_initial:
                await BreachObligation.update(
                    {
                        BreachObligation.status: "notified",
                        BreachObligation.initial_notice: notice_id,
                        BreachObligation.notified_at: now,
                        BreachObligation.late_by_seconds: late_by,
                        BreachObligation.late_reason: content["late_reason"],
                    }
                ).where(BreachObligation.id == obligation["id"])
            await trail.append(
                now=now,
                actor=actor,
                action=f"breach.notice_sent.{data.phase}",
                subject_type="breach_notice",
                subject_id=notice_id,
                client_id=client["id"],
                after=content,
                details={
                    "breach_id": breach_id,
                    "obligation_id": obligation["id"],
                    "sequence": sequence,
                    "initial_notice_id": parent,
                    "facts_version": breach["current_version"],
                    "notification_id": ref.notice_id,
                    "late_by_seconds": content["late_by_seconds"],
                    "missing": [m["item"] for m in content["missing_art_33_3"]],
                },
            )
            out = _notice_out(row.to_dict(), received_at=None)
            sent.append(out)
            if is_initial and content["missing_art_33_3"]:
                warnings.append(
                    {
                        "client_id": client["id"],
                        "notice_id": notice_id,
                        "rule": "art-33-3-incomplete",
                        "missing": content["missing_art_33_3"],
                        "message": "the initial notice left without every Art. 33(3) item; "
                        "send a follow-up (Art. 33(4)) once they are known",
                    }
                )
    return {"breach_id": breach_id, "phase": data.phase, "notices": sent, "warnings": warnings}


def _notice_targets(
    data: NoticeIn, obligations: Mapping[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    if data.clients is None:
        if not obligations:
            raise Conflict(
                "no client is marked affected yet", field="clients", rule="clients-marked"
            )
        if data.phase == "initial":
            targets = [o for o in obligations.values() if o["status"] == "pending"]
            if not targets:
                raise Conflict(
                    "every affected client already received the initial notice",
                    field="clients",
                    rule="initial-already-sent",
                )
        else:
            targets = list(obligations.values())
        chosen = sorted(targets, key=lambda o: o["client"])
        labels = [(f"clients (client {o['client']})", o) for o in chosen]
    else:
        labels = []
        seen: set[str] = set()
        for index, client_id in enumerate(data.clients):
            field = f"clients[{index}]"
            if client_id in seen:
                raise ValidationProblem(
                    f"client {client_id} is listed twice", field=field, rule="unique"
                )
            seen.add(client_id)
            obligation = obligations.get(client_id)
            if obligation is None:
                raise ValidationProblem(
                    f"client {client_id} is not marked affected by this breach",
                    field=field,
                    rule="marked-affected",
                )
            if data.phase == "initial" and obligation["status"] != "pending":
                raise Conflict(
                    f"client {client_id} already received the initial notice",
                    field=field,
                    rule="initial-already-sent",
                )
            labels.append((field, obligation))
    if data.phase == "followup":
        for field, obligation in labels:
            if obligation["initial_notice"] is None:
                raise Conflict(
                    f"client {obligation['client']} has had no initial notice: a follow-up "
                    "completes an initial notice (Art. 33(4))",
                    field=field,
                    rule="initial-notice-required",
                )
    return [o for _, o in labels]


# -- closure -----------------------------------------------------------------------------------


async def close_breach(breach_id: str, data: CloseIn, actor: str, now: datetime) -> dict[str, Any]:
    breach = await _breach_row(breach_id)
    _require_open(breach)
    async with db.transaction():
        pending = await BreachObligation.count().where(
            (BreachObligation.breach == breach_id) & (BreachObligation.status == "pending")
        )
        if pending:
            raise Conflict(
                f"{pending} affected client(s) have not been notified yet",
                field="breach_id",
                rule="all-affected-notified",
            )
        closed = await (
            Breach.update(
                {
                    Breach.status: "closed",
                    Breach.closed_at: now,
                    Breach.closed_by: actor,
                    Breach.remedial_actions_json: json.dumps(data.remedial_actions),
                    Breach.summary: data.summary,
                }
            )
            .where((Breach.id == breach_id) & (Breach.status == "open"))
            .returning(Breach.id)
        )
        if not closed:
            raise Conflict(f"breach {breach_id} is closed", field="breach_id", rule="breach-open")
        await trail.append(
            now=now,
            actor=actor,
            action="breach.closed",
            subject_type="breach",
            subject_id=breach_id,
            after={"remedial_actions": data.remedial_actions, "summary": data.summary},
            details={"remedial_actions": len(data.remedial_actions)},
        )
    return await get_breach(breach_id, now)


# -- views -------------------------------------------------------------------------------------


def _deadline_of(row: Mapping[str, Any]) -> Any:
    return rules.deadline(
        _utc(row["start_at"]),
        row["duration"],
        row["time_zone"],
        row["calendar"],
        row["business_hours"],
        row["extend"],
        row["clause"],
    )


def _obligation_out(
    row: Mapping[str, Any], now: datetime, client: Mapping[str, Any] | None
) -> dict[str, Any]:
    dl = _deadline_of(row)
    out = {
        "id": row["id"],
        "client_id": row["client"],
        "client_name": client["legal_name"] if client else None,
        "contract_id": row["contract"],
        "terms_version": row["terms_version"],
        "duration": row["duration"],
        "duration_source": row["duration_source"],
        "clause": row["clause"],
        "time_zone": row["time_zone"],
        "calendar": row["calendar"],
        "extend": row["extend"],
        "start": utc_iso(row["start_at"]),
        "explanation": json.loads(row["explanation_json"]),
        "initial_notice_id": row["initial_notice"],
        "notified_at": utc_iso(row["notified_at"]),
        "late_by_seconds": row["late_by_seconds"],
        "late_reason": row["late_reason"],
        "marked_at": utc_iso(row["marked_at"]),
    }
    out.update(rules.clock_view(dl, now, row["notified_at"], row["late_by_seconds"]))
    return out


def _notice_out(row: Mapping[str, Any], received_at: datetime | None) -> dict[str, Any]:
    return {
        "id": row["id"],
        "breach_id": row["breach"],
        "client_id": row["client"],
        "phase": row["phase"],
        "sequence": row["sequence"],
        "initial_notice_id": row["parent_notice"],
        "facts_version": row["facts_version"],
        "sent_at": utc_iso(row["sent_at"]),
        "sent_by": row["sent_by"],
        "channels": json.loads(row["channels_json"]),
        "notification_id": row["notification_id"],
        "received_at": utc_iso(received_at),
        "late_by_seconds": row["late_by_seconds"],
        "late_reason": row["late_reason"],
        "missing_art_33_3": json.loads(row["missing_json"]),
    }


def _breach_out(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "status": row["status"],
        "occurred_at": utc_iso(row["occurred_at"]),
        "aware_at": utc_iso(row["aware_at"]),
        "facts_version": row["current_version"],
        "created_at": utc_iso(row["created_at"]),
        "closed_at": utc_iso(row["closed_at"]),
    }


def _closure_out(row: Mapping[str, Any]) -> dict[str, Any] | None:
    if row["status"] != "closed":
        return None
    return {
        "closed_at": utc_iso(row["closed_at"]),
        "closed_by": row["closed_by"],
        "remedial_actions": json.loads(row["remedial_actions_json"]),
        "summary": row["summary"],
    }


async def get_breach(breach_id: str, now: datetime) -> dict[str, Any]:
    """The DPO's view: every fact, the incident-wide gaps and a summary of the clocks."""
    row = await _breach_row(breach_id)
    facts = await _facts(breach_id, row["current_version"])
    obligations = await BreachObligation.select(
        BreachObligation.status, BreachObligation.due_at, BreachObligation.late_by_seconds
    ).where(BreachObligation.breach == breach_id)
    pending = [o for o in obligations if o["status"] == "pending"]
    overdue = [o for o in pending if now > _utc(o["due_at"])]
    out = _breach_out(row)
    out.update(
        {
            "facts": facts,
            "missing_art_33_3": rules.missing_items(facts),
            "clients": {
                "affected": len(obligations),
                "pending": len(pending) - len(overdue),
                "overdue": len(overdue),
                "notified": len(obligations) - len(pending),
                "notified_late": sum(1 for o in obligations if o["late_by_seconds"]),
                "next_deadline": utc_iso(min((_utc(o["due_at"]) for o in pending), default=None)),
            },
            "closure": _closure_out(row),
        }
    )
    return out


async def list_breaches(
    request: PageRequest, status: str | None, client_id: str | None = None
) -> dict[str, Any]:
    query = Breach.select().order_by(Breach.id, ascending=False).limit(request.limit + 1)
    if request.cursor:
        query = query.where(Breach.id < request.cursor)
    if status:
        query = query.where(Breach.status == status)
    if client_id is not None:
        ids = [
            r["breach"]
            for r in await BreachObligation.select(BreachObligation.breach).where(
                BreachObligation.client == client_id
            )
        ]
        query = query.where(Breach.id.is_in(ids or [""]))
    rows = await query
    return page([_breach_out(r) for r in rows], request)


async def list_versions(breach_id: str) -> list[dict[str, Any]]:
    await _breach_row(breach_id)
    rows = await (
        BreachFactsVersion.select()
        .where(BreachFactsVersion.breach == breach_id)
        .order_by(BreachFactsVersion.version)
    )
    return [
        {
            "version": r["version"],
            "reason": r["reason"],
            "author": r["author"],
            "created_at": utc_iso(r["created_at"]),
            "facts": json.loads(r["facts_json"]),
        }
        for r in rows
    ]


def _clock_status_is(status: str, now: datetime) -> Combinable:
    """The stored rows whose clock shows ``status`` at ``now`` (as :func:`rules.clock_view`)."""
    waiting = BreachObligation.status == "pending"
    notified = BreachObligation.status == "notified"
    on_time = BreachObligation.late_by_seconds.is_null() | (BreachObligation.late_by_seconds == 0)
    return {
        "unnotified": waiting,  # pending or overdue: what is still to be sent
        "pending": waiting & (BreachObligation.due_at >= now),
        "overdue": waiting & (BreachObligation.due_at < now),
        "notified": notified & on_time,
        "notified_late": notified & (BreachObligation.late_by_seconds > 0),
    }[status]


async def list_obligations(
    breach_id: str, request: PageRequest, now: datetime, status: str | None = None
) -> dict[str, Any]:
    await _breach_row(breach_id)
    query = (
        BreachObligation.select()
        .where(BreachObligation.breach == breach_id)
        .order_by(BreachObligation.id)
        .limit(request.limit + 1)
    )
    if request.cursor:
        query = query.where(BreachObligation.id > request.cursor)
    if status is not None:
        query = query.where(_clock_status_is(status, now))
    rows = await query
    clients = await contracts_service.clients_by_id([r["client"] for r in rows])
    return page([_obligation_out(r, now, clients.get(r["client"])) for r in rows], request)


async def _notices(breach_id: str, client_id: str | None) -> list[dict[str, Any]]:
    query = BreachNotice.select().where(BreachNotice.breach == breach_id)
    if client_id is not None:
        query = query.where(BreachNotice.client == client_id)
    rows = await query.order_by(BreachNotice.id)
    out = []
    for row in rows:
        received = (
            await notifications.notice_received_at(row["notification_id"])
            if row["notification_id"]
            else None
        )
        out.append(_notice_out(row, received))
    return out


async def list_notices(breach_id: str, client_id: str | None = None) -> list[dict[str, Any]]:
    await _breach_row(breach_id)
    return await _notices(breach_id, client_id)


async def get_notice(
    breach_id: str, notice_id: str, now: datetime, client_id: str | None = None
) -> dict[str, Any]:
    """One notice: what was sent (content), its delivery and its receipt."""
    row = None
    if is_valid_id(notice_id, "bnn"):
        query = BreachNotice.select().where(
            (BreachNotice.id == notice_id) & (BreachNotice.breach == breach_id)
        )
        if client_id is not None:
            query = query.where(BreachNotice.client == client_id)
        row = await query.first()
    if row is None:
        raise NotFound(f"notice {notice_id} not found", field="notice_id")
    delivery = (
        await notifications.get_notice(row["notification_id"], now=now)
        if row["notification_id"]
        else None
    )
    out = _notice_out(row, _parse_instant(delivery["received_at"]) if delivery else None)
    out["content"] = json.loads(row["content_json"])
    out["delivery"] = delivery
    return out


async def _obligation_row(breach_id: str, client_id: str) -> dict[str, Any]:
    row = (
        await BreachObligation.select()
        .where((BreachObligation.breach == breach_id) & (BreachObligation.client == client_id))
        .first()
    )
    if row is None:
        # a client never learns of a breach that did not affect it
        raise NotFound(f"breach {breach_id} not found", field="breach_id")
    return row


async def client_breach(client_id: str, breach_id: str, now: datetime) -> dict[str, Any]:
    """What a client (or its auditor) sees: its own obligation and notices, nobody else's."""
    breach = await _breach_row(breach_id)
    obligation = await _obligation_row(breach_id, client_id)
    clients = await contracts_service.clients_by_id([client_id])
    facts = rules.client_facts(await _facts(breach_id, breach["current_version"]), client_id)
    notices = await _notices(breach_id, client_id)
    ob = _obligation_out(obligation, now, clients.get(client_id))
    first_receipt = next(
        (n["received_at"] for n in notices if n["phase"] == "initial" and n["received_at"]),
        None,
    )
    if first_receipt:
        controller = rules.controller_deadline(
            _parse_instant(first_receipt), obligation["time_zone"], obligation["calendar"]
        )
        ob["controller_deadline"] = controller.to_dict()["deadline"]
        ob["controller_deadline_display"] = controller.display
    out = _breach_out(breach)
    out.update(
        {
            "facts": facts,
            "missing_art_33_3": rules.missing_items(facts),
            "obligation": ob,
            "notices": notices,
            "closure": _closure_out(breach),
        }
    )
    return out


async def cnil_export(
    breach_id: str, now: datetime, client_id: str | None = None
) -> dict[str, Any]:
    """The facts in the CNIL form's structure: one client's view, or the incident's (DPO)."""
    breach = await _breach_row(breach_id)
    facts = await _facts(breach_id, breach["current_version"])
    client_view = None
    obligation_view = None
    notices: list[dict[str, Any]] = []
    if client_id is not None:
        obligation = await _obligation_row(breach_id, client_id)
        client = (await contracts_service.clients_by_id([client_id]))[client_id]
        facts = rules.client_facts(facts, client_id)
        client_view = {
            "id": client_id,
            "legal_name": client["legal_name"],
            "dpo": (
                {"name": client["dpo_name"], "email": client["dpo_email"]}
                if client["dpo_email"]
                else None
            ),
        }
        obligation_view = {
            "deadline": utc_iso(obligation["due_at"]),
            "deadline_display": obligation["due_display"],
        }
        notices = await _notices(breach_id, client_id)
    form = rules.cnil_form(
        facts=facts,
        breach=breach,
        processor_name=get_settings().processor_name,
        client=client_view,
        obligation=obligation_view,
        notices=notices,
    )
    form["generated_at"] = utc_iso(now)
    return form
