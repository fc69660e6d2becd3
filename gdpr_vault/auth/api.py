"""Tokens (DPO only) and the caller's own identity."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from gdpr_vault.auth import service
from gdpr_vault.auth.guards import dpo_only
from gdpr_vault.auth.schemas import TokenIn
from gdpr_vault.web import caller, now_of


class TokenController(Controller):
    path = "/api/v1/tokens"
    tags = ["auth"]
    guards = [dpo_only]

    @post("/", summary="Issue a token; the secret is returned once and never stored")
    async def issue(self, request: Request, data: JSONBody[TokenIn]) -> dict[str, Any]:
        return await service.issue_token(
            role=data.role,
            client_id=data.client_id,
            label=data.label,
            expires_at=data.expires_at,
            actor=caller(request).actor,
            now=now_of(request),
        )

    @get("/")
    async def list_tokens(self, client_id: FromQuery[str | None] = None) -> list[dict[str, Any]]:
        return await service.list_tokens(client_id)

    @delete("/{token_id:str}", status_code=HTTP_200_OK, summary="Revoke a token")
    async def revoke(self, request: Request, token_id: FromPath[str]) -> dict[str, Any]:
        return await service.revoke_token(token_id, caller(request).actor, now_of(request))


@get("/api/v1/me", tags=["auth"], summary="Who this token is")
async def whoami(request: Request) -> dict[str, Any]:
    principal = caller(request)
    return {
        "token_id": principal.token_id,
        "role": principal.role,
        "client_id": principal.client_id,
        "label": principal.label,
        "read_only": not principal.can_write,
    }
