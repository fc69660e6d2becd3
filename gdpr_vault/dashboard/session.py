"""The dashboard's sign-in: the DPO pastes a token once; it rides in an HttpOnly cookie.

The cookie is ``SameSite=Strict`` and scoped to ``/dashboard``, so another site can neither
read it nor make the browser send it; every page re-checks the token, so revoking or expiring it
signs the browser out at once.
"""

from __future__ import annotations

from litestar import Request
from litestar.exceptions import NotAuthorizedException

from gdpr_vault.auth.tokens import Principal, authenticate

COOKIE = "gv_dashboard"


class DashboardSignInRequired(NotAuthorizedException):
    """Answered by a redirect to the sign-in page, not a problem document."""


async def dashboard_principal(request: Request) -> Principal:
    secret = request.cookies.get(COOKIE, "")
    principal = await authenticate(secret, request.app.state.clock()) if secret else None
    if principal is None or principal.role != "dpo":
        raise DashboardSignInRequired("sign in with a DPO token")
    return principal
