"""Litestar guards: role and client scope, enforced before any handler runs.

A client or auditor asking for another client's data gets 404, not 403, so a token cannot even
learn which client ids exist.
"""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from gdpr_vault.auth.tokens import Principal
from gdpr_vault.errors import Forbidden, NotFound, Unauthenticated

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def principal_of(connection: ASGIConnection) -> Principal:
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise Unauthenticated("send Authorization: Bearer <token>")
    return user


def dpo_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if principal_of(connection).role != "dpo":
        raise Forbidden("only the processor's DPO may do this", rule="role:dpo")


def read_only_for_auditors(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    principal = principal_of(connection)
    if principal.role == "auditor" and connection.scope["method"] not in SAFE_METHODS:
        raise Forbidden("auditor tokens are read-only", rule="role:auditor-read-only")


def client_scope(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Every route with ``{client_id}`` in its path is fenced to that client's own tokens."""
    principal = principal_of(connection)
    client_id = connection.path_params.get("client_id")
    if client_id is not None and not principal.sees_client(str(client_id)):
        raise NotFound(f"client {client_id} not found", field="client_id")
