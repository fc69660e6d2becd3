"""Audits under /api/v1: each client's audits, access log and evidence bundle; the DPO's lists."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream

from gdpr_vault.audits import bundle, service
from gdpr_vault.audits.schemas import (
    AuditRequestIn,
    DecisionIn,
    FindingIn,
    FindingStatusIn,
    ScheduleIn,
    StepIn,
)
from gdpr_vault.auth.guards import client_scope, dpo_only, read_only_for_auditors
from gdpr_vault.inputs import parse_input_instant
from gdpr_vault.pagination import LimitQuery, PageRequest
from gdpr_vault.web import caller, now_of

Status = Literal[
    "requested",
    "accepted",
    "refused",
    "scheduled",
    "in_progress",
    "findings",
    "remediation",
    "closed",
]


def _instant(text: str | None, field: str) -> datetime | None:
    if text is None:
        return None
    return parse_input_instant(text, field)


class ClientAuditController(Controller):
    path = "/api/v1/clients/{client_id:str}/audits"
    tags = ["audits"]
    guards = [read_only_for_auditors, client_scope]

    @post("/", summary="Request an audit (the client, or the DPO on its behalf)")
    async def request_audit(
        self, request: Request, client_id: FromPath[str], data: JSONBody[AuditRequestIn]
    ) -> dict[str, Any]:
        return await service.request_audit(client_id, data, caller(request), now_of(request))

    @get("/", summary="This client's audits")
    async def list_audits(
        self,
        request: Request,
        client_id: FromPath[str],
        limit: LimitQuery = None,
        cursor: FromQuery[str | None] = None,
        status: FromQuery[Status | None] = None,
    ) -> dict[str, Any]:
        return await service.list_audits(
            client_id, status, PageRequest.parse(limit, cursor), now_of(request)
        )

    @get("/access-log", summary="Every request an auditor token made for this client")
    async def access_log(
        self,
        client_id: FromPath[str],
        limit: LimitQuery = None,
        cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        return await service.access_log(client_id, PageRequest.parse(limit, cursor))

    @get("/{audit_id:str}", summary="One audit: the rules' proposal, decision, findings")
    async def get_audit(
        self, request: Request, client_id: FromPath[str], audit_id: FromPath[str]
    ) -> dict[str, Any]:
        return await service.get_audit(client_id, audit_id, now_of(request))

    @post(
        "/{audit_id:str}/decision",
        guards=[dpo_only],
        status_code=200,
        summary="Accept (issues the auditor token, shown once) or refuse with a reason",
    )
    async def decide(
        self,
        request: Request,
        client_id: FromPath[str],
        audit_id: FromPath[str],
        data: JSONBody[DecisionIn],
    ) -> dict[str, Any]:
        return await service.decide(
            client_id, audit_id, data, caller(request).actor, now_of(request)
        )

    @post(
        "/{audit_id:str}/schedule",
        guards=[dpo_only],
        status_code=200,
        summary="Confirm the schedule within the accepted window",
    )
    async def schedule(
        self,
        request: Request,
        client_id: FromPath[str],
        audit_id: FromPath[str],
        data: JSONBody[ScheduleIn],
    ) -> dict[str, Any]:
        return await service.schedule(
            client_id, audit_id, data, caller(request).actor, now_of(request)
        )

    @post(
        "/{audit_id:str}/{action:str}",
        guards=[dpo_only],
        status_code=200,
        summary="start | report | remediate | close",
    )
    async def step(
        self,
        request: Request,
        client_id: FromPath[str],
        audit_id: FromPath[str],
        action: FromPath[Literal["start", "report", "remediate", "close"]],
        data: JSONBody[StepIn],
    ) -> dict[str, Any]:
        return await service.step(
            client_id, audit_id, action, data, caller(request).actor, now_of(request)
        )

    @post("/{audit_id:str}/findings", guards=[dpo_only], summary="Record a finding")
    async def add_finding(
        self,
        request: Request,
        client_id: FromPath[str],
        audit_id: FromPath[str],
        data: JSONBody[FindingIn],
    ) -> dict[str, Any]:
        return await service.add_finding(
            client_id, audit_id, data, caller(request).actor, now_of(request)
        )

    @post(
        "/{audit_id:str}/findings/{finding_id:str}/status",
        guards=[dpo_only],
        status_code=200,
        summary="Move a finding's remediation: in_progress, or resolved with evidence",
    )
    async def finding_status(
        self,
        request: Request,
        client_id: FromPath[str],
        audit_id: FromPath[str],
        finding_id: FromPath[str],
        data: JSONBody[FindingStatusIn],
    ) -> dict[str, Any]:
        return await service.update_finding(
            client_id, audit_id, finding_id, data, caller(request).actor, now_of(request)
        )


class EvidenceBundleController(Controller):
    path = "/api/v1/clients/{client_id:str}/evidence-bundle.zip"
    tags = ["audits"]
    guards = [read_only_for_auditors, client_scope]

    @get("/", summary="One signed zip of this client's evidence as of a date or for a period")
    async def evidence_bundle(
        self,
        request: Request,
        client_id: FromPath[str],
        as_of: FromQuery[str | None] = None,
        start: Annotated[str | None, QueryParameter(name="from")] = None,
        end: Annotated[str | None, QueryParameter(name="to")] = None,
    ) -> Stream:
        now = now_of(request)
        period = bundle.period_of(
            _instant(as_of, "as_of"), _instant(start, "from"), _instant(end, "to"), now
        )
        plan = await bundle.prepare(client_id, period, caller(request).actor, now)
        day = period.end.strftime("%Y%m%d")
        return Stream(
            bundle.stream(plan),
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="evidence-{client_id}-{day}.zip"'
            },
        )


class AuditController(Controller):
    path = "/api/v1/audits"
    tags = ["audits"]
    guards = [dpo_only]

    @get("/", summary="Every client's audits (filter by status)")
    async def list_audits(
        self,
        request: Request,
        limit: LimitQuery = None,
        cursor: FromQuery[str | None] = None,
        status: FromQuery[Status | None] = None,
    ) -> dict[str, Any]:
        return await service.list_audits(
            None, status, PageRequest.parse(limit, cursor), now_of(request)
        )

    @get("/findings", summary="Findings to remediate; overdue=true lists the late ones")
    async def findings(
        self,
        request: Request,
        overdue: FromQuery[bool | None] = None,
        status: FromQuery[Literal["open", "in_progress", "resolved"] | None] = None,
        limit: LimitQuery = None,
        cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        return await service.list_findings(
            overdue, status, PageRequest.parse(limit, cursor), now_of(request)
        )


ROUTES = [ClientAuditController, EvidenceBundleController, AuditController]
