"""The processing register under /api/v1: a client's read-only view, the DPO's whole register.

- ``/api/v1/clients/{client_id}/register/...``: what concerns one controller (its tokens, its
  auditors, the DPO), read-only;
- ``/api/v1/register/...``: the processor-wide register, its edits, import and exports (DPO).

Exports stream; the response carries ``X-Register-Export-Id`` and a ``Link: <...>;
rel="signature"`` header naming the route that serves the DSSE envelope once the download has
finished (docs/registers.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream

from gdpr_vault.auth.guards import client_scope, dpo_only, read_only_for_auditors
from gdpr_vault.errors import ValidationProblem
from gdpr_vault.inputs import parse_input_instant
from gdpr_vault.pagination import PageRequest
from gdpr_vault.registers import exports, imports, service
from gdpr_vault.registers.schemas import (
    ActivityIn,
    ClientLinkIn,
    ReasonIn,
    SubprocessorLinkChangeIn,
)
from gdpr_vault.web import caller, now_of

AsOf = Annotated[
    str | None,
    QueryParameter(description="ISO 8601 instant with offset: the register as it stood then"),
]
Reason = Annotated[str, QueryParameter(min_length=3, max_length=2000)]
EXPORT_PATHS = ["/export.json", "/export.csv", "/export.html"]


def parse_as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    return parse_input_instant(value, "as_of")


def _export_response(
    request: Request, client_id: str | None, as_of: str | None, signature_base: str
) -> Stream:
    fmt = request.url.path.rsplit(".", 1)[-1]
    now = now_of(request)
    at = parse_as_of(as_of)
    if at is not None and at > now:
        raise ValidationProblem("as_of is in the future", field="as_of", rule="not-future")
    export = exports.new_request(fmt, client_id, now, at)
    signature = f"{signature_base}/exports/{export.export_id}/signature"
    return Stream(
        exports.stream_signed(export, caller(request).actor),
        media_type=exports.MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "X-Register-Export-Id": export.export_id,
            "Link": f'<{signature}>; rel="signature"',
            "Cache-Control": "no-store",
        },
    )


class ClientRegisterController(Controller):
    path = "/api/v1/clients/{client_id:str}/register"
    tags = ["registers"]
    guards = [read_only_for_auditors, client_scope]

    @get("/", summary="This controller's record of processing (Art. 30(2)), as of a date")
    async def register(self, client_id: FromPath[str], as_of: AsOf = None) -> dict[str, Any]:
        return await service.client_register(client_id, parse_as_of(as_of))

    @get("/completeness", summary="What this controller's register lacks, with the article")
    async def completeness(self, client_id: FromPath[str], as_of: AsOf = None) -> dict[str, Any]:
        return await service.client_completeness(client_id, parse_as_of(as_of))

    @get("/activities/{activity_id:str}", summary="One entry, as it concerns this controller")
    async def activity(
        self, client_id: FromPath[str], activity_id: FromPath[str], as_of: AsOf = None
    ) -> dict[str, Any]:
        await service.client_identity(client_id)
        return await service.get_activity(activity_id, parse_as_of(as_of), client_id=client_id)

    @get("/activities/{activity_id:str}/history", summary="Changes while it served this client")
    async def history(
        self, client_id: FromPath[str], activity_id: FromPath[str]
    ) -> list[dict[str, Any]]:
        await service.client_identity(client_id)
        return await service.history(activity_id, client_id)

    @get("/activities/{activity_id:str}/versions")
    async def versions(
        self, client_id: FromPath[str], activity_id: FromPath[str]
    ) -> list[dict[str, Any]]:
        await service.client_identity(client_id)
        return await service.list_versions(activity_id, client_id)

    @get("/activities/{activity_id:str}/versions/{version:int}")
    async def version(
        self, client_id: FromPath[str], activity_id: FromPath[str], version: FromPath[int]
    ) -> dict[str, Any]:
        await service.client_identity(client_id)
        return await service.get_version(activity_id, version, client_id)

    @get("/activities/{activity_id:str}/diff", summary="Field-level changes between two versions")
    async def diff(
        self,
        client_id: FromPath[str],
        activity_id: FromPath[str],
        from_version: Annotated[int, QueryParameter(ge=1)],
        to_version: Annotated[int, QueryParameter(ge=1)],
    ) -> dict[str, Any]:
        await service.client_identity(client_id)
        return await service.diff_versions(activity_id, from_version, to_version, client_id)

    @get(EXPORT_PATHS, summary="Signed export (JSON, CSV with BOM, printable HTML), streamed")
    async def export(
        self, request: Request, client_id: FromPath[str], as_of: AsOf = None
    ) -> Stream:
        await service.client_identity(client_id)
        base = f"/api/v1/clients/{client_id}/register"
        return _export_response(request, client_id, as_of, base)

    @get("/exports/{export_id:str}/signature", summary="DSSE envelope of a finished export")
    async def signature(self, client_id: FromPath[str], export_id: FromPath[str]) -> dict[str, Any]:
        await service.client_identity(client_id)
        return exports.stored_signature(export_id, client_id)


class RegisterController(Controller):
    path = "/api/v1/register"
    tags = ["registers"]
    guards = [dpo_only]

    @get("/", summary="The processor-wide register, a page of entries at a time")
    async def list_activities(
        self,
        limit: Annotated[int | None, QueryParameter(ge=1, le=500)] = None,
        cursor: FromQuery[str | None] = None,
        client_id: FromQuery[str | None] = None,
        subprocessor_id: FromQuery[str | None] = None,
        as_of: AsOf = None,
    ) -> dict[str, Any]:
        return await service.list_activities(
            PageRequest.parse(limit, cursor),
            client_id=client_id,
            subprocessor_id=subprocessor_id,
            as_of=parse_as_of(as_of),
        )

    @post("/activities", summary="Record a processing activity (optionally for clients)")
    async def create(self, request: Request, data: JSONBody[ActivityIn]) -> dict[str, Any]:
        return await service.create_activity(data, caller(request).actor, now_of(request))

    @get("/activities/{activity_id:str}")
    async def get_activity(self, activity_id: FromPath[str], as_of: AsOf = None) -> dict[str, Any]:
        return await service.get_activity(activity_id, parse_as_of(as_of))

    @put("/activities/{activity_id:str}", summary="Replace the entry: a new version")
    async def update(
        self, request: Request, activity_id: FromPath[str], data: JSONBody[ActivityIn]
    ) -> dict[str, Any]:
        return await service.update_activity(
            activity_id, data, caller(request).actor, now_of(request)
        )

    @post("/activities/{activity_id:str}/retire", status_code=200)
    async def retire(
        self, request: Request, activity_id: FromPath[str], data: JSONBody[ReasonIn]
    ) -> dict[str, Any]:
        return await service.retire_activity(
            activity_id, actor=caller(request).actor, now=now_of(request), reason=data.reason
        )

    @post("/activities/{activity_id:str}/clients", summary="Share the entry with one more client")
    async def link_client(
        self, request: Request, activity_id: FromPath[str], data: JSONBody[ClientLinkIn]
    ) -> dict[str, Any]:
        return await service.link_client(
            activity_id,
            data.client_id,
            actor=caller(request).actor,
            now=now_of(request),
            reason=data.reason,
        )

    @delete("/activities/{activity_id:str}/clients/{client_id:str}", status_code=200)
    async def unlink_client(
        self, request: Request, activity_id: FromPath[str], client_id: FromPath[str], reason: Reason
    ) -> dict[str, Any]:
        return await service.unlink_client(
            activity_id, client_id, actor=caller(request).actor, now=now_of(request), reason=reason
        )

    @post("/activities/{activity_id:str}/subprocessors", status_code=200)
    async def link_subprocessor(
        self,
        request: Request,
        activity_id: FromPath[str],
        data: JSONBody[SubprocessorLinkChangeIn],
    ) -> dict[str, Any]:
        return await service.link_subprocessor(
            activity_id,
            data.subprocessor_id,
            activities=data.activities,
            client_id=data.client_id,
            actor=caller(request).actor,
            now=now_of(request),
            reason=data.reason,
        )

    @delete("/activities/{activity_id:str}/subprocessors/{subprocessor_id:str}", status_code=200)
    async def unlink_subprocessor(
        self,
        request: Request,
        activity_id: FromPath[str],
        subprocessor_id: FromPath[str],
        reason: Reason,
        client_id: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        return await service.unlink_subprocessor(
            activity_id,
            subprocessor_id,
            client_id=client_id,
            actor=caller(request).actor,
            now=now_of(request),
            reason=reason,
        )

    @get("/activities/{activity_id:str}/history", summary="Versions and link changes, in order")
    async def history(self, activity_id: FromPath[str]) -> list[dict[str, Any]]:
        return await service.history(activity_id)

    @get("/activities/{activity_id:str}/versions")
    async def versions(self, activity_id: FromPath[str]) -> list[dict[str, Any]]:
        return await service.list_versions(activity_id)

    @get("/activities/{activity_id:str}/versions/{version:int}")
    async def version(self, activity_id: FromPath[str], version: FromPath[int]) -> dict[str, Any]:
        return await service.get_version(activity_id, version)

    @get("/activities/{activity_id:str}/diff")
    async def diff(
        self,
        activity_id: FromPath[str],
        from_version: Annotated[int, QueryParameter(ge=1)],
        to_version: Annotated[int, QueryParameter(ge=1)],
    ) -> dict[str, Any]:
        return await service.diff_versions(activity_id, from_version, to_version)

    @get("/completeness", summary="Processor identity gaps and a page of entries' gaps")
    async def completeness(
        self,
        limit: Annotated[int | None, QueryParameter(ge=1, le=500)] = None,
        cursor: FromQuery[str | None] = None,
        as_of: AsOf = None,
    ) -> dict[str, Any]:
        return await service.processor_completeness(
            PageRequest.parse(limit, cursor), parse_as_of(as_of)
        )

    @get("/subprocessors/{subprocessor_id:str}/usage", summary="Activities and clients using it")
    async def subprocessor_usage(
        self, subprocessor_id: FromPath[str], as_of: AsOf = None
    ) -> dict[str, Any]:
        return await service.subprocessor_usage(subprocessor_id, parse_as_of(as_of))

    @get(EXPORT_PATHS, summary="Signed export of the whole register, streamed")
    async def export(self, request: Request, as_of: AsOf = None) -> Stream:
        return _export_response(request, None, as_of, "/api/v1/register")

    @get("/exports/{export_id:str}/signature", summary="DSSE envelope of a finished export")
    async def signature(self, export_id: FromPath[str]) -> dict[str, Any]:
        return exports.stored_signature(export_id, None)

    @post("/import", status_code=200, summary="Import a JSON or CSV register, all or nothing")
    async def import_register(
        self,
        request: Request,
        reason: Reason,
        format: Annotated[str | None, QueryParameter(pattern="^(json|csv)$")] = None,
    ) -> dict[str, Any]:
        body = await request.body()
        fmt = format
        content_type = request.headers.get("content-type", "")
        if fmt is None and "csv" in content_type:
            fmt = "csv"
        elif fmt is None and "json" in content_type:
            fmt = "json"
        return await imports.import_register(
            body, actor=caller(request).actor, now=now_of(request), reason=reason, fmt=fmt
        )
