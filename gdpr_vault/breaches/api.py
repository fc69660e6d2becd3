"""Breaches under /api/v1: the DPO's log and notices, and each client's scoped view."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from gdpr_vault.auth.guards import client_scope, dpo_only, read_only_for_auditors
from gdpr_vault.breaches import service
from gdpr_vault.breaches.export import cnil_html
from gdpr_vault.breaches.schemas import (
    BreachFactsIn,
    CloseIn,
    CorrectionIn,
    MarkClientsIn,
    NoticeIn,
)
from gdpr_vault.contracts.service import get_client
from gdpr_vault.pagination import LimitQuery, PageRequest
from gdpr_vault.web import caller, now_of

# What a clock shows (see rules.clock_view), plus "unnotified": pending or overdue.
ClockStatus = Literal["unnotified", "pending", "overdue", "notified", "notified_late"]


class BreachController(Controller):
    path = "/api/v1/breaches"
    tags = ["breaches"]
    guards = [dpo_only]

    @post("/", summary="Record a breach (Art. 33(5) log), notified or not")
    async def create(self, request: Request, data: JSONBody[BreachFactsIn]) -> dict[str, Any]:
        return await service.create_breach(data, caller(request).actor, now_of(request))

    @get("/", summary="The breach log, newest first")
    async def list_breaches(
        self,
        limit: LimitQuery = None,
        cursor: FromQuery[str | None] = None,
        status: FromQuery[Literal["open", "closed"] | None] = None,
    ) -> dict[str, Any]:
        return await service.list_breaches(PageRequest.parse(limit, cursor), status)

    @get("/{breach_id:str}", summary="One breach: facts, Art. 33(3) gaps, clocks summary")
    async def get_breach(self, request: Request, breach_id: FromPath[str]) -> dict[str, Any]:
        return await service.get_breach(breach_id, now_of(request))

    @get("/{breach_id:str}/versions", summary="Every version of the facts, with author and reason")
    async def versions(self, breach_id: FromPath[str]) -> list[dict[str, Any]]:
        return await service.list_versions(breach_id)

    @post("/{breach_id:str}/corrections", summary="Correct the facts: a new version")
    async def correct(
        self, request: Request, breach_id: FromPath[str], data: JSONBody[CorrectionIn]
    ) -> dict[str, Any]:
        return await service.correct_facts(breach_id, data, caller(request).actor, now_of(request))

    @post("/{breach_id:str}/clients", summary="Mark affected clients: one clock each")
    async def mark(
        self, request: Request, breach_id: FromPath[str], data: JSONBody[MarkClientsIn]
    ) -> dict[str, Any]:
        return await service.mark_affected(breach_id, data, caller(request).actor, now_of(request))

    @get("/{breach_id:str}/clients", summary="Affected clients with their notice clocks")
    async def obligations(
        self,
        request: Request,
        breach_id: FromPath[str],
        limit: LimitQuery = None,
        cursor: FromQuery[str | None] = None,
        status: FromQuery[ClockStatus | None] = None,
    ) -> dict[str, Any]:
        return await service.list_obligations(
            breach_id, PageRequest.parse(limit, cursor), now_of(request), status
        )

    @post("/{breach_id:str}/notices", summary="Send the initial notice or a follow-up")
    async def send(
        self, request: Request, breach_id: FromPath[str], data: JSONBody[NoticeIn]
    ) -> dict[str, Any]:
        return await service.send_notices(breach_id, data, caller(request).actor, now_of(request))

    @get("/{breach_id:str}/notices", summary="Notices sent for this breach")
    async def notices(
        self, breach_id: FromPath[str], client_id: FromQuery[str | None] = None
    ) -> list[dict[str, Any]]:
        return await service.list_notices(breach_id, client_id)

    @get("/{breach_id:str}/notices/{notice_id:str}", summary="One notice: content and delivery")
    async def notice(
        self, request: Request, breach_id: FromPath[str], notice_id: FromPath[str]
    ) -> dict[str, Any]:
        return await service.get_notice(breach_id, notice_id, now_of(request))

    @post("/{breach_id:str}/close", status_code=200, summary="Close with remedial actions")
    async def close(
        self, request: Request, breach_id: FromPath[str], data: JSONBody[CloseIn]
    ) -> dict[str, Any]:
        return await service.close_breach(breach_id, data, caller(request).actor, now_of(request))

    @get("/{breach_id:str}/cnil", summary="Facts in the CNIL form's structure (JSON)")
    async def cnil(
        self, request: Request, breach_id: FromPath[str], client_id: FromQuery[str | None] = None
    ) -> dict[str, Any]:
        return await service.cnil_export(breach_id, now_of(request), client_id)

    @get("/{breach_id:str}/cnil.html", summary="Facts in the CNIL form's structure (printable)")
    async def cnil_page(
        self, request: Request, breach_id: FromPath[str], client_id: FromQuery[str | None] = None
    ) -> Response[str]:
        form = await service.cnil_export(breach_id, now_of(request), client_id)
        return Response(cnil_html(form), media_type=MediaType.HTML)


class ClientBreachController(Controller):
    path = "/api/v1/clients/{client_id:str}/breaches"
    tags = ["breaches"]
    guards = [read_only_for_auditors, client_scope]

    @get("/", summary="Breaches that affected this client")
    async def list_breaches(
        self,
        client_id: FromPath[str],
        limit: LimitQuery = None,
        cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        await get_client(client_id)
        return await service.list_breaches(PageRequest.parse(limit, cursor), None, client_id)

    @get("/{breach_id:str}", summary="This client's view: its clock, its notices, the facts")
    async def get_breach(
        self, request: Request, client_id: FromPath[str], breach_id: FromPath[str]
    ) -> dict[str, Any]:
        await get_client(client_id)
        return await service.client_breach(client_id, breach_id, now_of(request))

    @get("/{breach_id:str}/notices/{notice_id:str}", summary="One notice as this client got it")
    async def notice(
        self,
        request: Request,
        client_id: FromPath[str],
        breach_id: FromPath[str],
        notice_id: FromPath[str],
    ) -> dict[str, Any]:
        await get_client(client_id)
        return await service.get_notice(breach_id, notice_id, now_of(request), client_id)

    @get("/{breach_id:str}/cnil", summary="What this client needs for its CNIL form (JSON)")
    async def cnil(
        self, request: Request, client_id: FromPath[str], breach_id: FromPath[str]
    ) -> dict[str, Any]:
        await get_client(client_id)
        return await service.cnil_export(breach_id, now_of(request), client_id)

    @get("/{breach_id:str}/cnil.html", summary="What this client needs for its CNIL form (page)")
    async def cnil_page(
        self, request: Request, client_id: FromPath[str], breach_id: FromPath[str]
    ) -> Response[str]:
        await get_client(client_id)
        form = await service.cnil_export(breach_id, now_of(request), client_id)
        return Response(cnil_html(form), media_type=MediaType.HTML)
