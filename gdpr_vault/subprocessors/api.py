"""The sub-processor list, its changes, clients' answers and the optional public list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from gdpr_vault.auth.guards import client_scope, dpo_only, read_only_for_auditors
from gdpr_vault.errors import ValidationProblem
from gdpr_vault.pagination import LimitQuery, PageRequest
from gdpr_vault.settings import Settings
from gdpr_vault.subprocessors import service
from gdpr_vault.subprocessors.feed import client_changes_feed, public_html
from gdpr_vault.subprocessors.schemas import (
    AbandonIn,
    ActivationIn,
    ChangeIn,
    ChangePatch,
    DpoObjectionIn,
    ObjectionIn,
    ReceiptIn,
    ResolutionIn,
    SubprocessorIn,
    SubprocessorPatch,
)
from gdpr_vault.web import caller, now_of


class SubprocessorController(Controller):
    path = "/api/v1/subprocessors"
    tags = ["subprocessors"]
    guards = [dpo_only]

    @get("/", summary="The sub-processor list; ?as_of= shows it as it stood then")
    async def list_subprocessors(
        self,
        request: Request,
        limit: LimitQuery = None,
        cursor: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        as_of: FromQuery[datetime | None] = None,
    ) -> dict[str, Any]:
        return await service.list_subprocessors(
            PageRequest.parse(limit, cursor), status, as_of, now_of(request)
        )

    @post("/", summary="Add an entry (proposed; or active with the clients it already serves)")
    async def create_subprocessor(
        self, request: Request, data: JSONBody[SubprocessorIn]
    ) -> dict[str, Any]:
        return await service.create_subprocessor(data, caller(request).actor, now_of(request))

    @get("/{subprocessor_id:str}")
    async def get_subprocessor(self, subprocessor_id: FromPath[str]) -> dict[str, Any]:
        return await service.get_subprocessor(subprocessor_id)

    @patch("/{subprocessor_id:str}", summary="Edit identity, contact or contract references")
    async def update_subprocessor(
        self, request: Request, subprocessor_id: FromPath[str], data: JSONBody[SubprocessorPatch]
    ) -> dict[str, Any]:
        return await service.update_subprocessor(
            subprocessor_id, data, caller(request).actor, now_of(request)
        )

    @delete("/{subprocessor_id:str}", status_code=204, summary="Delete a proposed, unused entry")
    async def delete_subprocessor(self, request: Request, subprocessor_id: FromPath[str]) -> None:
        await service.delete_subprocessor(subprocessor_id, caller(request).actor, now_of(request))


class ChangeController(Controller):
    path = "/api/v1/subprocessor-changes"
    tags = ["subprocessors"]
    guards = [dpo_only]

    @get("/", summary="Changes, oldest first")
    async def list_changes(
        self,
        limit: LimitQuery = None,
        cursor: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        return await service.list_changes(PageRequest.parse(limit, cursor), status)

    @post("/", summary="Draft a change with the facts the notice must state")
    async def create_change(self, request: Request, data: JSONBody[ChangeIn]) -> dict[str, Any]:
        return await service.create_change(data, caller(request).actor, now_of(request))

    @get("/{change_id:str}", summary="A change and how many clients are in each state")
    async def get_change(self, request: Request, change_id: FromPath[str]) -> dict[str, Any]:
        return await service.get_change(change_id, now_of(request))

    @patch("/{change_id:str}", summary="Edit a draft; after publication, postpone only")
    async def update_change(
        self, request: Request, change_id: FromPath[str], data: JSONBody[ChangePatch]
    ) -> dict[str, Any]:
        return await service.update_change(change_id, data, caller(request).actor, now_of(request))

    @get("/{change_id:str}/clients", summary="Each affected client's state, window and answer")
    async def list_change_clients(
        self,
        request: Request,
        change_id: FromPath[str],
        limit: LimitQuery = None,
        cursor: FromQuery[str | None] = None,
        client_state: Annotated[str | None, QueryParameter(name="state")] = None,
    ) -> dict[str, Any]:
        return await service.list_change_clients(
            change_id, PageRequest.parse(limit, cursor), client_state, now_of(request)
        )

    @post("/{change_id:str}/publish", status_code=200, summary="Send the written notices")
    async def publish(self, request: Request, change_id: FromPath[str]) -> dict[str, Any]:
        return await service.publish_change(change_id, caller(request).actor, now_of(request))

    @post("/{change_id:str}/receipts", status_code=200, summary="Record a client's receipt")
    async def record_receipt(
        self, request: Request, change_id: FromPath[str], data: JSONBody[ReceiptIn]
    ) -> dict[str, Any]:
        return await service.record_receipt(
            change_id,
            data.client_id,
            data.received_at,
            data.evidence,
            caller(request).actor,
            now_of(request),
        )

    @post("/{change_id:str}/objections", summary="Record a written objection received")
    async def record_objection(
        self, request: Request, change_id: FromPath[str], data: JSONBody[DpoObjectionIn]
    ) -> dict[str, Any]:
        return await service.object_to_change(
            change_id,
            data.client_id,
            data.reasons,
            data.received_at,
            "written",
            caller(request).actor,
            now_of(request),
        )

    @post(
        "/{change_id:str}/objections/{objection_id:str}/resolution",
        status_code=200,
        summary="Resolve an objection: withdrawn, change_abandoned, not_applied, client_terminates",
    )
    async def resolve_objection(
        self,
        request: Request,
        change_id: FromPath[str],
        objection_id: FromPath[str],
        data: JSONBody[ResolutionIn],
    ) -> dict[str, Any]:
        return await service.resolve_objection(
            change_id, objection_id, data, caller(request).actor, now_of(request)
        )

    @post(
        "/{change_id:str}/activation",
        status_code=200,
        summary="Make the change effective for clients whose window closed without objection",
    )
    async def activate(
        self, request: Request, change_id: FromPath[str], data: JSONBody[ActivationIn]
    ) -> dict[str, Any]:
        return await service.activate_change(
            change_id, data, caller(request).actor, now_of(request)
        )

    @post("/{change_id:str}/abandon", status_code=200, summary="Abandon the change for everyone")
    async def abandon(
        self, request: Request, change_id: FromPath[str], data: JSONBody[AbandonIn]
    ) -> dict[str, Any]:
        return await service.abandon_change(
            change_id, data.reason, caller(request).actor, now_of(request)
        )


class ClientSubprocessorController(Controller):
    path = "/api/v1/clients/{client_id:str}"
    tags = ["subprocessors"]
    guards = [read_only_for_auditors, client_scope]

    @get("/subprocessors", summary="Who processes this client's data (?as_of= for a past date)")
    async def list_mine(
        self,
        request: Request,
        client_id: FromPath[str],
        as_of: FromQuery[datetime | None] = None,
    ) -> dict[str, Any]:
        return await service.client_subprocessors(client_id, as_of, now_of(request))

    @get("/subprocessor-changes", summary="Changes notified to this client, with its state")
    async def list_changes(
        self,
        request: Request,
        client_id: FromPath[str],
        limit: LimitQuery = None,
        cursor: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        return await service.client_changes(
            client_id, PageRequest.parse(limit, cursor), now_of(request)
        )

    @get(
        "/subprocessor-changes/feed.atom",
        summary="Atom 1.0 feed of the sub-processor changes notified to this client",
        media_type="application/atom+xml",
    )
    async def feed(self, request: Request, client_id: FromPath[str]) -> Response[bytes]:
        body = await client_changes_feed(client_id, now_of(request))
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    @get("/subprocessor-changes/{change_id:str}", summary="One change, its facts and my state")
    async def get_change(
        self, request: Request, client_id: FromPath[str], change_id: FromPath[str]
    ) -> dict[str, Any]:
        return await service.client_change_view(change_id, client_id, now_of(request))

    @post(
        "/subprocessor-changes/{change_id:str}/objection",
        summary="Object in writing, with reasons (a DPO token records a written one)",
    )
    async def object_(
        self,
        request: Request,
        client_id: FromPath[str],
        change_id: FromPath[str],
        data: JSONBody[ObjectionIn],
    ) -> dict[str, Any]:
        principal = caller(request)
        if principal.role != "dpo" and data.received_at is not None:
            raise ValidationProblem(
                "an objection sent through the API is dated now; received_at is for the DPO "
                "recording a written objection",
                field="received_at",
                rule="role:dpo",
            )
        return await service.object_to_change(
            change_id,
            client_id,
            data.reasons,
            data.received_at,
            "written" if principal.role == "dpo" else "api",
            principal.actor,
            now_of(request),
        )

    @post(
        "/subprocessor-changes/{change_id:str}/acceptance",
        status_code=200,
        summary="Accept the change explicitly (it still waits for the window's end)",
    )
    async def accept(
        self, request: Request, client_id: FromPath[str], change_id: FromPath[str]
    ) -> dict[str, Any]:
        return await service.accept_change(
            change_id, client_id, caller(request).actor, now_of(request)
        )


@get(
    "/api/v1/public/subprocessors",
    exclude_from_auth=True,
    tags=["subprocessors"],
    summary="Current sub-processors (public; PUBLIC_SUBPROCESSOR_LIST=1)",
)
async def public_subprocessors() -> dict[str, Any]:
    return {"items": await service.public_list()}


@get(
    "/api/v1/public/subprocessors.html",
    exclude_from_auth=True,
    tags=["subprocessors"],
    summary="Current sub-processors as a web page (public; PUBLIC_SUBPROCESSOR_LIST=1)",
    media_type="text/html",
)
async def public_subprocessors_page(request: Request) -> Response[str]:
    settings: Settings = request.app.state.settings
    return Response(
        public_html(await service.public_list(), settings.processor_name),
        media_type="text/html",  # Litestar adds "; charset=utf-8" to text/* types
    )


ROUTES: list[Any] = [SubprocessorController, ChangeController, ClientSubprocessorController]


def public_routes(settings: Settings) -> list[Any]:
    """The public list exists only when PUBLIC_SUBPROCESSOR_LIST is on (default off).

    Registering the routes only then (rather than answering 404) keeps an install that does not
    publish its list free of unauthenticated routes.
    """
    if not settings.public_subprocessor_list:
        return []
    return [public_subprocessors, public_subprocessors_page]
