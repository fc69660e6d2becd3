"""Every request made with an auditor token goes into the trail (``auditor.accessed``).

An ASGI middleware placed after ``BearerTokenMiddleware`` (so the caller is known). It writes
the event, in its own transaction, when the response starts and before it is forwarded: an
auditor never receives an answer whose access is not on record. Only the method, the path
(ids only), the route template, the names of query parameters (never their values) and the
status are kept. A refused request keeps the route template only, so another client's ids
never land in this client's trail.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import structlog
from litestar import Litestar
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gdpr_vault.audits import service
from gdpr_vault.auth.tokens import Principal

log = structlog.get_logger("gdpr_vault.audits")
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,40}\Z")


def query_keys(query_string: bytes) -> list[str]:
    """Names of the query parameters, never their values."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return sorted({k for k, _ in pairs if _KEY.match(k)})


def logged_path(scope: Scope, principal: Principal, status: int) -> str:
    params: dict[str, Any] = scope.get("path_params") or {}
    foreign = str(params.get("client_id", principal.client_id)) != principal.client_id
    if status >= 400 or foreign:
        return str(scope.get("path_template") or "")
    return str(scope.get("path", ""))


def auditor_access_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("user") if scope["type"] == "http" else None
        if not isinstance(principal, Principal) or principal.role != "auditor":
            await app(scope, receive, send)
            return
        recorded = False

        async def send_logged(message: Message) -> None:
            nonlocal recorded
            if message["type"] == "http.response.start" and not recorded:
                recorded = True
                status = int(message["status"])
                try:
                    await service.record_access(
                        principal,
                        method=str(scope.get("method", "")),
                        path=logged_path(scope, principal, status),
                        route=str(scope.get("path_template") or ""),
                        query_keys=query_keys(scope.get("query_string", b"")),
                        status=status,
                        now=Litestar.from_scope(scope).state.clock(),
                    )
                except Exception:
                    log.error("auditor.access_not_recorded", token_id=principal.token_id)
                    raise
            await send(message)

        await app(scope, receive, send_logged)

    return middleware
