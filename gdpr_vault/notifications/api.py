"""Notices, receipts, webhook endpoints, the Atom feed and the DPO's outbox under /api/v1."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from gdpr_vault.auth.guards import client_scope, dpo_only, read_only_for_auditors
from gdpr_vault.notifications import service
from gdpr_vault.notifications.feed import client_feed
from gdpr_vault.notifications.schemas import ManualNoticeIn, ReceiptIn, WebhookEndpointIn
from gdpr_vault.pagination import PageRequest
from gdpr_vault.web import caller, now_of


class ClientNoticeController(Controller):
    path = "/api/v1/clients/{client_id:str}"
    tags = ["notifications"]
    guards = [read_only_for_auditors, client_scope]

    @get("/notices", summary="Notices addressed to this client, newest first")
    async def list_notices(
        self,
        request: Request,
        client_id: FromPath[str],
        limit: Annotated[int | None, QueryParameter(ge=1, le=500)] = None,
        cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        return await service.list_notices(
            client_id, PageRequest.parse(limit, cursor), now_of(request)
        )

    @get(
        "/notices/feed.atom",
        summary="Atom 1.0 feed of this client's notices",
        media_type="application/atom+xml",
    )
    async def feed(self, request: Request, client_id: FromPath[str]) -> Response[bytes]:
        body = await client_feed(client_id, now_of(request))
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    @post(
        "/notices",
        guards=[dpo_only],
        summary="Send a DPO-written notice (kind=manual); ?dry_run=true only renders it",
    )
    async def manual_notice(
        self,
        request: Request,
        client_id: FromPath[str],
        data: JSONBody[ManualNoticeIn],
        dry_run: FromQuery[bool] = False,
    ) -> Response[dict[str, Any]]:
        result = await service.manual_notice(
            client_id, data, actor=caller(request).actor, now=now_of(request), dry_run=dry_run
        )
        # A preview creates nothing: 200, not 201 Created.
        return Response(result, status_code=200 if dry_run else 201)

    @get("/notices/{notice_id:str}", summary="One notice: delivery, receipt, clock state")
    async def get_notice(
        self, request: Request, client_id: FromPath[str], notice_id: FromPath[str]
    ) -> dict[str, Any]:
        return await service.get_client_notice(client_id, notice_id, now_of(request))

    @post(
        "/notices/{notice_id:str}/receipt",
        summary="Acknowledge receipt (client token: api) or record it (DPO token: dpo_entry)",
    )
    async def receipt(
        self,
        request: Request,
        client_id: FromPath[str],
        notice_id: FromPath[str],
        data: JSONBody[ReceiptIn],
    ) -> dict[str, Any]:
        who = caller(request)
        return await service.api_receipt(
            client_id, notice_id, data, role=who.role, actor=who.actor, now=now_of(request)
        )

    @get("/webhooks", summary="Webhook endpoints (secrets are never shown again)")
    async def list_webhooks(self, client_id: FromPath[str]) -> list[dict[str, Any]]:
        return await service.list_endpoints(client_id)

    @post("/webhooks", summary="Register a webhook endpoint; the answer holds its secret once")
    async def create_webhook(
        self, request: Request, client_id: FromPath[str], data: JSONBody[WebhookEndpointIn]
    ) -> dict[str, Any]:
        return await service.create_endpoint(
            client_id, data, actor=caller(request).actor, now=now_of(request)
        )

    @post(
        "/webhooks/{endpoint_id:str}/rotate",
        summary="New secret; the old one keeps signing beside it for the overlap window",
    )
    async def rotate_webhook(
        self, request: Request, client_id: FromPath[str], endpoint_id: FromPath[str]
    ) -> dict[str, Any]:
        return await service.rotate_endpoint_secret(
            client_id, endpoint_id, actor=caller(request).actor, now=now_of(request)
        )

    @delete("/webhooks/{endpoint_id:str}", status_code=200, summary="Stop sending to an endpoint")
    async def deactivate_webhook(
        self, request: Request, client_id: FromPath[str], endpoint_id: FromPath[str]
    ) -> dict[str, Any]:
        return await service.deactivate_endpoint(
            client_id, endpoint_id, actor=caller(request).actor, now=now_of(request)
        )


class OutboxController(Controller):
    path = "/api/v1/notifications"
    tags = ["notifications"]
    guards = [dpo_only]

    @get("/outbox", summary="Outbox messages, newest first; ?status=dead lists dead letters")
    async def outbox(
        self,
        status: FromQuery[Literal["pending", "sending", "sent", "dead"] | None] = None,
        limit: Annotated[int | None, QueryParameter(ge=1, le=500)] = None,
        cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        return await service.list_outbox(status, PageRequest.parse(limit, cursor))

    @post("/outbox/{message_id:str}/retry", summary="Requeue a dead letter (same id, same bytes)")
    async def retry(self, request: Request, message_id: FromPath[str]) -> dict[str, Any]:
        return await service.retry_message(
            message_id, actor=caller(request).actor, now=now_of(request)
        )


_RECEIPT_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{text}</p></body></html>
"""


@get(
    "/api/v1/receipts/{token:str}",
    exclude_from_auth=True,
    tags=["notifications"],
    summary="One-click acknowledgement of receipt from a notice e-mail (signed link)",
)
async def receipt_link(request: Request, token: FromPath[str]) -> Response[str]:
    notice = await service.receipt_by_link(token, now_of(request))
    text = (
        f"Accusé de réception enregistré / receipt recorded: {notice['id']}, "
        f"reçu le / received {notice['received_at']}."
    )
    body = _RECEIPT_PAGE.format(title="Merci / Thank you", text=text)
    return Response(body, media_type="text/html")  # Litestar adds the charset
