"""Reversibility under /api/v1: the DPO's case list, and each client's scoped case resources."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, MediaType, Request, Response, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream

from gdpr_vault.auth.guards import client_scope, dpo_only, read_only_for_auditors
from gdpr_vault.contracts.service import get_client
from gdpr_vault.errors import Forbidden, ValidationProblem
from gdpr_vault.pagination import LimitQuery, PageRequest
from gdpr_vault.reversibility import service
from gdpr_vault.reversibility.schemas import (
    AnomalyIn,
    CaseOpenIn,
    ChoiceIn,
    ExclusionIn,
    RequestIn,
    SourcesIn,
)
from gdpr_vault.web import caller, now_of

Status = Literal[
    "opened",
    "requested",
    "exporting",
    "export_available",
    "integrity_confirmed",
    "anomaly_reported",
    "deleting",
    "deleted",
]


class ReversibilityController(Controller):
    path = "/api/v1/reversibility/cases"
    tags = ["reversibility"]
    guards = [dpo_only]

    @get("/", summary="Every client's reversibility cases, with their deadlines")
    async def list_cases(
        self,
        request: Request,
        limit: LimitQuery = None,
        cursor: FromQuery[str | None] = None,
        status: FromQuery[Status | None] = None,
    ) -> dict[str, Any]:
        return await service.list_cases(
            None, status, PageRequest.parse(limit, cursor), now_of(request)
        )

    @post("/", summary="Open a case: termination, non-renewal or the client's request")
    async def open_case(self, request: Request, data: JSONBody[CaseOpenIn]) -> dict[str, Any]:
        if data.client_id is None:
            raise ValidationProblem("client_id is required", field="client_id", rule="required")
        return await service.open_case(data.client_id, data, caller(request).actor, now_of(request))


class ClientReversibilityController(Controller):
    path = "/api/v1/clients/{client_id:str}/reversibility"
    tags = ["reversibility"]
    guards = [read_only_for_auditors, client_scope]

    @get("/sources", summary="Where this client's data lives (URLs redacted)")
    async def sources(self, client_id: FromPath[str]) -> list[dict[str, Any]]:
        return await service.list_sources(client_id)

    @put("/sources", guards=[dpo_only], summary="Set the client's sources (credentials sealed)")
    async def set_sources(
        self, request: Request, client_id: FromPath[str], data: JSONBody[SourcesIn]
    ) -> list[dict[str, Any]]:
        return await service.set_sources(client_id, data, caller(request).actor, now_of(request))

    @get("/cases", summary="This client's reversibility cases")
    async def list_cases(
        self,
        request: Request,
        client_id: FromPath[str],
        limit: LimitQuery = None,
        cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        await get_client(client_id)
        return await service.list_cases(
            client_id, None, PageRequest.parse(limit, cursor), now_of(request)
        )

    @post("/cases", summary="Open a case for this client")
    async def open_case(
        self, request: Request, client_id: FromPath[str], data: JSONBody[CaseOpenIn]
    ) -> dict[str, Any]:
        if data.client_id not in (None, client_id):
            raise ValidationProblem(
                "client_id differs from the path", field="client_id", rule="matches-path"
            )
        return await service.open_case(client_id, data, caller(request).actor, now_of(request))

    @get("/cases/{case_id:str}", summary="Status, deadlines with explanations, exports")
    async def get_case(
        self, request: Request, client_id: FromPath[str], case_id: FromPath[str]
    ) -> dict[str, Any]:
        return await service.get_case(client_id, case_id, now_of(request))

    @post("/cases/{case_id:str}/request", status_code=200, summary="The client's return request")
    async def request_return(
        self,
        request: Request,
        client_id: FromPath[str],
        case_id: FromPath[str],
        data: JSONBody[RequestIn],
    ) -> dict[str, Any]:
        return await service.record_request(
            client_id, case_id, data, caller(request).actor, now_of(request)
        )

    @post("/cases/{case_id:str}/choice", status_code=200, summary="Restitution or destruction")
    async def choose(
        self,
        request: Request,
        client_id: FromPath[str],
        case_id: FromPath[str],
        data: JSONBody[ChoiceIn],
    ) -> dict[str, Any]:
        return await service.choose(
            client_id, case_id, data, caller(request).actor, now_of(request)
        )

    @post("/cases/{case_id:str}/confirm", status_code=200, summary="Confirm the export's integrity")
    async def confirm(
        self, request: Request, client_id: FromPath[str], case_id: FromPath[str]
    ) -> dict[str, Any]:
        return await service.confirm_integrity(
            client_id, case_id, caller(request).actor, now_of(request)
        )

    @post("/cases/{case_id:str}/anomalies", status_code=200, summary="Report an integrity anomaly")
    async def anomaly(
        self,
        request: Request,
        client_id: FromPath[str],
        case_id: FromPath[str],
        data: JSONBody[AnomalyIn],
    ) -> dict[str, Any]:
        return await service.report_anomaly(
            client_id, case_id, data, caller(request).actor, now_of(request)
        )

    @post(
        "/cases/{case_id:str}/exclusions",
        status_code=200,
        guards=[dpo_only],
        summary="Add a legal-hold exclusion (listed in the certificate)",
    )
    async def exclusion(
        self,
        request: Request,
        client_id: FromPath[str],
        case_id: FromPath[str],
        data: JSONBody[ExclusionIn],
    ) -> dict[str, Any]:
        return await service.add_exclusion(
            client_id, case_id, data.what, data.legal_reason, caller(request).actor, now_of(request)
        )

    @post(
        "/cases/{case_id:str}/deletion",
        status_code=200,
        guards=[dpo_only],
        summary="Run the certified deletion now (when the rules allow it)",
    )
    async def delete_now(
        self, request: Request, client_id: FromPath[str], case_id: FromPath[str]
    ) -> dict[str, Any]:
        return await service.request_deletion_now(
            client_id, case_id, caller(request).actor, now_of(request)
        )

    @get("/cases/{case_id:str}/download-link", summary="A fresh expiring download link")
    async def download_link(
        self, request: Request, client_id: FromPath[str], case_id: FromPath[str]
    ) -> dict[str, Any]:
        return await service.download_link(client_id, case_id, caller(request), now_of(request))

    @get(
        "/cases/{case_id:str}/download",
        summary="The export (tar of the signed bag), decrypted on the fly; needs link= too",
        media_type="application/x-tar",
    )
    async def download(
        self,
        request: Request,
        client_id: FromPath[str],
        case_id: FromPath[str],
        link: FromQuery[str | None] = None,
    ) -> Stream:
        if not link:
            raise Forbidden("a download needs its expiring link (link=)", rule="download-link")
        chunks, name = await service.open_download(
            client_id, case_id, link, caller(request), now_of(request)
        )
        return Stream(
            chunks,
            media_type="application/x-tar",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )

    @get("/cases/{case_id:str}/certificate", summary="The signed deletion certificate (DSSE)")
    async def certificate(self, client_id: FromPath[str], case_id: FromPath[str]) -> dict:
        return await service.certificate(client_id, case_id)

    @get("/cases/{case_id:str}/certificate.html", summary="The certificate, printable")
    async def certificate_page(
        self, client_id: FromPath[str], case_id: FromPath[str]
    ) -> Response[str]:
        return Response(
            await service.certificate_page(client_id, case_id), media_type=MediaType.HTML
        )
