"""Bearer-token authentication for every route not explicitly marked public."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from gdpr_vault.auth.tokens import authenticate
from gdpr_vault.errors import Unauthenticated


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("send Authorization: Bearer <token>")
        clock = connection.app.state.clock
        principal = await authenticate(secret.strip(), clock())
        if principal is None:
            raise Unauthenticated("the token is unknown, revoked or expired")
        return AuthenticationResult(user=principal, auth=None)
