"""Small helpers every controller uses: who is calling, what time it is, the page asked for."""

from __future__ import annotations

from datetime import datetime

from litestar import Request

from gdpr_vault.auth.guards import principal_of
from gdpr_vault.auth.tokens import Principal


def caller(request: Request) -> Principal:
    return principal_of(request)


def now_of(request: Request) -> datetime:
    return request.app.state.clock()
