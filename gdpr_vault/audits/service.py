"""Audit use cases: each one transaction and one trail event per state change.

The auditor's identity (name, e-mail, firm) is kept on the audit row only; the trail gets its
digest. Accepting an audit issues the auditor a read-only token bound to the client, expiring at
the audit's end; its secret is returned once, in the acceptance answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from gdpr_vault import db
from gdpr_vault.audits import rules
from gdpr_vault.audits.schemas import (
    AuditRequestIn,
    DecisionIn,
    FindingIn,
    FindingStatusIn,
    ScheduleIn,
    StepIn,
)
from gdpr_vault.audits.tables import Audit, AuditFinding, AuditorAccess
from gdpr_vault.auth.service import issue_token
from gdpr_vault.auth.tokens import Principal
from gdpr_vault.contracts import service as contracts
from gdpr_vault.contracts.rules import email_error
from gdpr_vault.contracts.terms import ContractTerms
from gdpr_vault.errors import Conflict, NotFound, ValidationProblem
from gdpr_vault.evidence import trail
from gdpr_vault.ids import is_valid_id, new_id
from gdpr_vault.inputs import check_input_date
from gdpr_vault.notifications.service import queue_notice
from gdpr_vault.pagination import PageRequest, page
from gdpr_vault.settings import get_settings
from gdpr_vault.timeutil import (
    utc_iso,
)

NOTICE_KIND = "audit.decision"


def _conflict(problem: tuple[str, str] | None, field: str = "status") -> None:
    if problem:
        rule, message = problem
        raise Conflict(message, field=field, rule=rule)


def _loads(text: str | None, default: Any) -> Any:
    return json.loads(text) if text else default


# --- shaping ---------------------------------------------------------------------------------


def finding_out(row: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "audit_id": row["audit"],
        "client_id": row["client"],
        "severity": row["severity"],
        "description": row["description"],
        "owner": row["owner"],
        "status": row["status"],
        "due_at": utc_iso(row["due_at"]),
        "due_display": row["due_display"],
        "due_source": row["due_source"],
        "due_explanation": _loads(row["due_explanation_json"], []),
        "terms_version": row["terms_version"],
        "created_at": utc_iso(row["created_at"]),
        "created_by": row["created_by"],
        "resolution_evidence": row["resolution_evidence"],
        "resolved_at": utc_iso(row["resolved_at"]),
    }
    if now is not None:
        out["overdue"] = row["status"] != "resolved" and now > row["due_at"]
    return out


def audit_out(row: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "client_id": row["client"],
        "contract_id": row["contract"],
        "terms_version": row["terms_version"],
        "status": row["status"],
        "kind": row["kind"],
        "scope": row["scope_text"],
        "areas": _loads(row["areas_json"], []),
        "auditor": {
            "name": row["auditor_name"],
            "email": row["auditor_email"],
            "firm": row["auditor_firm"],
        },
        "proposed_start": utc_iso(row["proposed_start"]),
        "proposed_end": utc_iso(row["proposed_end"]),
        "start": utc_iso(row["start_at"]),
        "end": utc_iso(row["end_at"]),
        "requested_at": utc_iso(row["requested_at"]),
        "requested_by": row["requested_by"],
        "decision_due": {
            "due_at": utc_iso(row["decision_due_at"]),
            "display": row["decision_due_display"],
            "explanation": _loads(row["decision_due_explanation_json"], []),
        },
        "proposal": _loads(row["proposal_json"], {}),
        "decision": row["decision"],
        "decision_reason": row["decision_reason"],
        "decided_at": utc_iso(row["decided_at"]),
        "decided_by": row["decided_by"],
        "auditor_token_id": row["auditor_token_id"],
        "schedule_notes": row["schedule_notes"],
        "started_at": utc_iso(row["started_at"]),
        "reported_at": utc_iso(row["reported_at"]),
        "report_summary": row["report_summary"],
        "closed_at": utc_iso(row["closed_at"]),
    }
    if now is not None:
        out["decision_due"]["overdue"] = row["status"] == "requested" and (
            now > row["decision_due_at"]
        )
    return out


# --- reading ---------------------------------------------------------------------------------


async def _audit_row(client_id: str, audit_id: str) -> dict[str, Any]:
    row = None
    if is_valid_id(audit_id, "aud"):
        row = await (
            Audit.select().where((Audit.id == audit_id) & (Audit.client == client_id)).first()
        )
    if row is None:
        raise NotFound(f"audit {audit_id} not found", field="audit_id")
    return row


async def _findings(audit_id: str) -> list[dict[str, Any]]:
    return (
        await AuditFinding.select().where(AuditFinding.audit == audit_id).order_by(AuditFinding.id)
    )


async def _others(client_id: str, audit_id: str | None) -> list[rules.OtherAudit]:
    rows = await Audit.select(
        Audit.id, Audit.status, Audit.proposed_start, Audit.start_at, Audit.requested_at
    ).where((Audit.client == client_id) & (Audit.status != "refused"))
    return [
        rules.OtherAudit(
            id=r["id"],
            status=r["status"],
            start=r["start_at"] or r["proposed_start"],
            requested_at=r["requested_at"],
        )
        for r in rows
        if r["id"] != audit_id
    ]


async def _terms(client_id: str, contract_id: str) -> tuple[dict[str, Any], ContractTerms]:
    try:
        return await contracts.current_terms(client_id, contract_id)
    except NotFound as exc:
        raise ValidationProblem(
            f"contract {contract_id} is not a contract of this client",
            field="contract_id",
            rule="known-contract",
        ) from exc


async def _proposal(row: Mapping[str, Any], now: datetime) -> rules.Proposal:
    _, terms = await contracts.current_terms(row["client"], row["contract"])
    facts = rules.AuditFacts(
        id=row["id"],
        kind=row["kind"],
        areas=tuple(_loads(row["areas_json"], [])),
        start=row["start_at"] or row["proposed_start"],
        end=row["end_at"] or row["proposed_end"],
        requested_at=row["requested_at"],
    )
    return rules.propose_decision(facts, terms, await _others(row["client"], row["id"]), now)


async def get_audit(client_id: str, audit_id: str, now: datetime) -> dict[str, Any]:
    await contracts.get_client(client_id)
    row = await _audit_row(client_id, audit_id)
    out = audit_out(row, now)
    if row["status"] == "requested":  # the DPO sees the proposal as it stands today
        out["proposal"] = (await _proposal(row, now)).to_dict()
    out["findings"] = [finding_out(f, now) for f in await _findings(audit_id)]
    return out


async def list_audits(
    client_id: str | None, status: str | None, request: PageRequest, now: datetime
) -> dict[str, Any]:
    if status is not None and status not in rules.STATUSES:
        raise ValidationProblem(
            f"status must be one of {', '.join(rules.STATUSES)}", field="status", rule="known"
        )
    query = Audit.select().order_by(Audit.id).limit(request.limit + 1)
    if client_id is not None:
        await contracts.get_client(client_id)
        query = query.where(Audit.client == client_id)
    if status is not None:
        query = query.where(Audit.status == status)
    if request.cursor:
        query = query.where(Audit.id > request.cursor)
    return page([audit_out(r, now) for r in await query], request)


async def list_findings(
    overdue: bool | None, status: str | None, request: PageRequest, now: datetime
) -> dict[str, Any]:
    """The DPO's remediation list; ``overdue=True``: unresolved and past due, oldest due first."""
    if status is not None and status not in rules.FINDING_STATUSES:
        raise ValidationProblem(
            f"status must be one of {', '.join(rules.FINDING_STATUSES)}",
            field="status",
            rule="known",
        )
    query = AuditFinding.select().order_by(AuditFinding.id).limit(request.limit + 1)
    if overdue is True:
        query = query.where((AuditFinding.status != "resolved") & (AuditFinding.due_at < now))
    elif overdue is False:
        query = query.where((AuditFinding.status == "resolved") | (AuditFinding.due_at >= now))
    if status is not None:
        query = query.where(AuditFinding.status == status)
    if request.cursor:
        query = query.where(AuditFinding.id > request.cursor)
    return page([finding_out(r, now) for r in await query], request)


async def client_history(
    client_id: str, start: datetime | None, end: datetime
) -> list[dict[str, Any]]:
    """Audits requested up to ``end`` (and not closed before ``start``), with their findings."""
    query = Audit.select().where((Audit.client == client_id) & (Audit.requested_at <= end))
    rows = await query.order_by(Audit.id)
    out = []
    for row in rows:
        if start is not None and row["closed_at"] is not None and row["closed_at"] < start:
            continue
        item = audit_out(row)
        item["findings"] = [
            finding_out(f) for f in await _findings(row["id"]) if f["created_at"] <= end
        ]
        out.append(item)
    return out


async def access_log(client_id: str, request: PageRequest) -> dict[str, Any]:
    await contracts.get_client(client_id)
    query = (
        AuditorAccess.select()
        .where(AuditorAccess.client == client_id)
        .order_by(AuditorAccess.id)
        .limit(request.limit + 1)
    )
    if request.cursor:
        query = query.where(AuditorAccess.id > request.cursor)
    items = [
        {
            "id": r["id"],
            "token_id": r["token_id"],
            "audit_id": r["audit_id"],
            "method": r["method"],
            "path": r["path"],
            "route": r["route"],
            "query_keys": [k for k in r["query_keys"].split(",") if k],
            "status": r["status"],
            "occurred_at": utc_iso(r["occurred_at"]),
            "trail_seq": r["trail_seq"],
        }
        for r in await query
    ]
    return page(items, request)


# --- requests and decisions ------------------------------------------------------------------


def _validate_request(data: AuditRequestIn) -> None:
    check_input_date(data.proposed_start, "proposed_start")
    check_input_date(data.proposed_end, "proposed_end")
    error = rules.dates_error(data.proposed_start, data.proposed_end)
    if error:
        raise ValidationProblem(error, field="proposed_end", rule="audit-dates")
    for index, area in enumerate(data.areas):
        error = rules.area_error(area)
        if error:
            raise ValidationProblem(error, field=f"areas[{index}]", rule="area-slug")
    error = email_error(data.auditor.email)
    if error:
        raise ValidationProblem(error, field="auditor.email", rule="email")
    if not is_valid_id(data.contract_id, "ctr"):
        raise ValidationProblem(
            f"contract {data.contract_id} is not a contract of this client",
            field="contract_id",
            rule="known-contract",
        )


async def request_audit(
    client_id: str, data: AuditRequestIn, principal: Principal, now: datetime
) -> dict[str, Any]:
    _validate_request(data)
    await contracts.get_client(client_id)
    contract, terms = await _terms(client_id, data.contract_id)
    if contract["status"] != "active":
        raise ValidationProblem(
            f"contract {data.contract_id} is {contract['status']}",
            field="contract_id",
            rule="active-contract",
        )
    due = rules.decision_due(now, get_settings().audit_decision_due, terms)
    audit_id = new_id("aud")
    areas = sorted(set(data.areas))
    facts = rules.AuditFacts(
        id=audit_id,
        kind=data.kind,
        areas=tuple(areas),
        start=data.proposed_start,
        end=data.proposed_end,
        requested_at=now,
    )
    async with db.transaction():
        proposal = rules.propose_decision(facts, terms, await _others(client_id, None), now)
        row = Audit(
            id=audit_id,
            client=client_id,
            contract=data.contract_id,
            terms_version=contract["current_version"],
            status="requested",
            kind=data.kind,
            scope_text=data.scope,
            areas_json=json.dumps(areas),
            auditor_name=data.auditor.name,
            auditor_email=data.auditor.email,
            auditor_firm=data.auditor.firm,
            proposed_start=data.proposed_start,
            proposed_end=data.proposed_end,
            requested_at=now,
            requested_by=principal.actor,
            decision_due_at=due.due,
            decision_due_display=due.display,
            decision_due_explanation_json=json.dumps(due.explanation),
            proposal_json=json.dumps(proposal.to_dict(), ensure_ascii=False),
            updated_at=now,
        )
        await Audit.insert(row)
        await trail.append(
            now=now,
            actor=principal.actor,
            action="audit.requested",
            subject_type="audit",
            subject_id=audit_id,
            client_id=client_id,
            after=msgspec.to_builtins(data),
            details={
                "contract_id": data.contract_id,
                "terms_version": contract["current_version"],
                "kind": data.kind,
                "areas": areas,
                "proposed_start": utc_iso(data.proposed_start),
                "proposed_end": utc_iso(data.proposed_end),
                "proposal": proposal.decision,
                "proposal_rules": [r.rule for r in proposal.reasons],
                "decision_due": utc_iso(due.due),
            },
        )
    return await get_audit(client_id, audit_id, now)


async def _notify_decision(row: Mapping[str, Any], facts: dict[str, Any], now: datetime) -> str:
    """Tell the client's notice recipients; a client without any gets none (recorded)."""
    try:
        ref = await queue_notice(
            client_id=row["client"],
            kind=NOTICE_KIND,
            subject_type="audit",
            subject_id=row["id"],
            facts=facts,
            now=now,
            actor="system",
            requires_receipt=False,
        )
    except ValidationProblem as exc:
        if exc.rule != "no-recipient":
            raise
        return ""
    return ref.notice_id


async def decide(
    client_id: str, audit_id: str, data: DecisionIn, actor: str, now: datetime
) -> dict[str, Any]:
    """Accept (issues the auditor token, returned once) or refuse with a reason."""
    if data.decision == "refuse" and not (data.reason and data.reason.strip()):
        raise ValidationProblem(
            "a refusal needs a reason (cite the clause)", field="reason", rule="reason-required"
        )
    if data.start is not None:
        check_input_date(data.start, "start")
    if data.end is not None:
        check_input_date(data.end, "end")
    await contracts.get_client(client_id)
    token: dict[str, Any] | None = None
    async with db.transaction():
        row = await _audit_row(client_id, audit_id)
        _conflict(rules.transition_error(row["status"], data.decision))
        proposal = await _proposal(row, now)
        start = data.start or row["proposed_start"]
        end = data.end or row["proposed_end"]
        if data.decision == "accept":
            error = rules.dates_error(start, end)
            if error:
                raise ValidationProblem(error, field="end", rule="audit-dates")
            if end <= now:
                raise ValidationProblem(
                    "the audit's end has passed: the auditor token would be born expired",
                    field="end",
                    rule="end-in-future",
                )
            token = await issue_token(
                role="auditor",
                client_id=client_id,
                label=f"audit {audit_id}",
                expires_at=end,
                actor=actor,
                now=now,
            )
        reason = data.reason
        if data.decision == "refuse" and proposal.decision == "refuse":
            cited = "; ".join(f"{r.detail} [{rules.cite(r.clause)}]" for r in proposal.reasons)
            reason = f"{data.reason} — {cited}"
        status = rules.next_status(data.decision)
        values: dict[Any, Any] = {
            Audit.status: status,
            Audit.decision: data.decision,
            Audit.decision_reason: reason,
            Audit.decided_at: now,
            Audit.decided_by: actor,
            Audit.proposal_json: json.dumps(proposal.to_dict(), ensure_ascii=False),
            Audit.updated_at: now,
        }
        if token is not None:
            values[Audit.start_at] = start
            values[Audit.end_at] = end
            values[Audit.auditor_token_id] = token["id"]
        await Audit.update(values).where(Audit.id == audit_id)
        notice_id = await _notify_decision(
            row,
            {
                "audit_id": audit_id,
                "decision": data.decision,
                "reason": reason or "",
                "start": utc_iso(start) if token else None,
                "end": utc_iso(end) if token else None,
                "conditions": list(proposal.conditions),
            },
            now,
        )
        await trail.append(
            now=now,
            actor=actor,
            action=f"audit.{status}",
            subject_type="audit",
            subject_id=audit_id,
            client_id=client_id,
            after={"decision": data.decision, "reason": reason},
            details={
                "decision": data.decision,
                "proposal": proposal.decision,
                "follows_proposal": proposal.decision == data.decision,
                "proposal_rules": [r.rule for r in proposal.reasons],
                "start": utc_iso(start) if token else None,
                "end": utc_iso(end) if token else None,
                "auditor_token_id": token["id"] if token else None,
                "notice_id": notice_id or None,
            },
        )
    out = await get_audit(client_id, audit_id, now)
    if token is not None:
        out["auditor_token"] = {
            "id": token["id"],
            "token": token["token"],
            "expires_at": token["expires_at"],
            "note": "shown once: hand it to the auditor; revoke with DELETE /api/v1/tokens/{id}",
        }
    return out


async def schedule(
    client_id: str, audit_id: str, data: ScheduleIn, actor: str, now: datetime
) -> dict[str, Any]:
    if data.start is not None:
        check_input_date(data.start, "start")
    if data.end is not None:
        check_input_date(data.end, "end")
    await contracts.get_client(client_id)
    async with db.transaction():
        row = await _audit_row(client_id, audit_id)
        _conflict(rules.transition_error(row["status"], "schedule"))
        start = data.start or row["start_at"]
        end = data.end or row["end_at"]
        error = rules.dates_error(start, end)
        if error:
            raise ValidationProblem(error, field="end", rule="audit-dates")
        if end > row["end_at"]:
            raise ValidationProblem(
                "the schedule must end by the accepted end (the auditor token expires then)",
                field="end",
                rule="within-accepted-window",
            )
        await Audit.update(
            {
                Audit.status: "scheduled",
                Audit.start_at: start,
                Audit.end_at: end,
                Audit.schedule_notes: data.notes,
                Audit.updated_at: now,
            }
        ).where(Audit.id == audit_id)
        await trail.append(
            now=now,
            actor=actor,
            action="audit.scheduled",
            subject_type="audit",
            subject_id=audit_id,
            client_id=client_id,
            after={"notes": data.notes},
            details={"start": utc_iso(start), "end": utc_iso(end)},
        )
    return await get_audit(client_id, audit_id, now)


_STEP_COLUMNS = {
    "start": ("started_at", None),
    "report": ("reported_at", "report_summary"),
    "remediate": (None, None),
    "close": ("closed_at", None),
}


async def step(
    client_id: str, audit_id: str, action: str, data: StepIn, actor: str, now: datetime
) -> dict[str, Any]:
    """start (scheduled → in_progress), report (→ findings), remediate, close."""
    await contracts.get_client(client_id)
    async with db.transaction():
        row = await _audit_row(client_id, audit_id)
        _conflict(rules.transition_error(row["status"], action))
        statuses = [f["status"] for f in await _findings(audit_id)]
        if action == "remediate":
            _conflict(rules.remediate_error(statuses))
        if action == "close":
            _conflict(rules.close_error(statuses))
        status = rules.next_status(action)
        values: dict[Any, Any] = {Audit.status: status, Audit.updated_at: now}
        stamp, note_column = _STEP_COLUMNS[action]
        if stamp:
            values[getattr(Audit, stamp)] = now
        if note_column and data.note is not None:
            values[getattr(Audit, note_column)] = data.note
        await Audit.update(values).where(Audit.id == audit_id)
        await trail.append(
            now=now,
            actor=actor,
            action=f"audit.{status}",
            subject_type="audit",
            subject_id=audit_id,
            client_id=client_id,
            after={"note": data.note} if data.note is not None else None,
            details={"from": row["status"], "findings": len(statuses)},
        )
    return await get_audit(client_id, audit_id, now)


# --- findings --------------------------------------------------------------------------------


async def add_finding(
    client_id: str, audit_id: str, data: FindingIn, actor: str, now: datetime
) -> dict[str, Any]:
    if data.due_at is not None:
        check_input_date(data.due_at, "due_at")
        if data.due_at <= now:
            raise ValidationProblem("due_at must be in the future", field="due_at", rule="future")
    await contracts.get_client(client_id)
    async with db.transaction():
        row = await _audit_row(client_id, audit_id)
        if row["status"] not in rules.FINDINGS_OPEN_IN:
            raise Conflict(
                f"findings are recorded while the audit is in_progress or findings, "
                f"not {row['status']}",
                field="status",
                rule="findings-open",
            )
        contract, terms = await contracts.current_terms(client_id, row["contract"])
        deadline = rules.finding_due(data.severity, now, terms)
        finding_id = new_id("afd")
        if data.due_at is not None:
            due_at, display, source = data.due_at, utc_iso(data.due_at) or "", "set_by_dpo"
            explanation = [f"due date set by the DPO: {display}"]
        else:
            due_at, display, source = deadline.due, deadline.display, "product_default"
            explanation = deadline.explanation
        await AuditFinding.insert(
            AuditFinding(
                id=finding_id,
                audit=audit_id,
                client=client_id,
                severity=data.severity,
                description=data.description,
                owner=data.owner,
                status="open",
                due_at=due_at,
                due_display=display,
                due_source=source,
                due_explanation_json=json.dumps(explanation, ensure_ascii=False),
                terms_version=contract["current_version"],
                created_at=now,
                created_by=actor,
                updated_at=now,
            )
        )
        await trail.append(
            now=now,
            actor=actor,
            action="audit.finding_added",
            subject_type="audit_finding",
            subject_id=finding_id,
            client_id=client_id,
            after=msgspec.to_builtins(data),
            details={
                "audit_id": audit_id,
                "severity": data.severity,
                "due_at": utc_iso(due_at),
                "due_source": source,
            },
        )
        created = await AuditFinding.select().where(AuditFinding.id == finding_id).first()
    return finding_out(created, now)


async def update_finding(
    client_id: str,
    audit_id: str,
    finding_id: str,
    data: FindingStatusIn,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    if data.status == "resolved" and not (data.evidence and data.evidence.strip()):
        raise ValidationProblem(
            "a resolved finding needs the evidence of its remediation",
            field="evidence",
            rule="evidence-required",
        )
    await contracts.get_client(client_id)
    async with db.transaction():
        audit = await _audit_row(client_id, audit_id)
        found = None
        if is_valid_id(finding_id, "afd"):
            found = await (
                AuditFinding.select()
                .where((AuditFinding.id == finding_id) & (AuditFinding.audit == audit_id))
                .first()
            )
        if found is None:
            raise NotFound(f"finding {finding_id} not found", field="finding_id")
        if audit["status"] == "closed":
            raise Conflict("the audit is closed", field="status", rule="audit-open")
        _conflict(rules.finding_transition_error(found["status"], data.status))
        values: dict[Any, Any] = {AuditFinding.status: data.status, AuditFinding.updated_at: now}
        if data.status == "resolved":
            values[AuditFinding.resolution_evidence] = data.evidence
            values[AuditFinding.resolved_at] = now
        await AuditFinding.update(values).where(AuditFinding.id == finding_id)
        await trail.append(
            now=now,
            actor=actor,
            action=f"audit.finding_{data.status}",
            subject_type="audit_finding",
            subject_id=finding_id,
            client_id=client_id,
            before={"status": found["status"]},
            after={"status": data.status, "evidence": data.evidence},
            details={
                "audit_id": audit_id,
                "from": found["status"],
                "to": data.status,
                "late": data.status == "resolved" and now > found["due_at"],
            },
        )
        updated = await AuditFinding.select().where(AuditFinding.id == finding_id).first()
    return finding_out(updated, now)


# --- auditor access --------------------------------------------------------------------------


async def record_access(
    principal: Principal,
    *,
    method: str,
    path: str,
    route: str,
    query_keys: list[str],
    status: int,
    now: datetime,
) -> None:
    """One trail event (and one access-log row) for one request made with an auditor token."""
    if principal.client_id is None:
        return
    async with db.transaction():
        audit = await (
            Audit.select(Audit.id).where(Audit.auditor_token_id == principal.token_id).first()
        )
        audit_id = audit["id"] if audit else None
        keys = ",".join(sorted(set(query_keys)))[:300]
        event = await trail.append(
            now=now,
            actor=principal.actor,
            action="auditor.accessed",
            subject_type="token",
            subject_id=principal.token_id,
            client_id=principal.client_id,
            details={
                "token_id": principal.token_id,
                "audit_id": audit_id,
                "method": method,
                "path": path,
                "route": route,
                "query_keys": keys,
                "status": status,
            },
        )
        await AuditorAccess.insert(
            AuditorAccess(
                id=new_id("acc"),
                client=principal.client_id,
                token_id=principal.token_id,
                audit_id=audit_id,
                method=method,
                path=path[:500],
                route=route[:300],
                query_keys=keys,
                status=status,
                occurred_at=now,
                trail_seq=event["seq"],
            )
        )
