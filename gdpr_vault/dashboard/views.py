"""Server-rendered pages for the processor's DPO: the overview, and one page per client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router

from gdpr_vault.auth.tokens import authenticate
from gdpr_vault.contracts import service as contracts
from gdpr_vault.contracts.clocks import CLOCK_NAMES, ClockNotInContractError, clock_term
from gdpr_vault.contracts.terms import load_terms
from gdpr_vault.dashboard import panels
from gdpr_vault.dashboard.session import COOKIE, DashboardSignInRequired, dashboard_principal

HERE = Path(__file__).resolve().parent


@dataclass
class SignInForm:
    token: str


def _to_sign_in(_: Request, __: Exception) -> Response[Any]:
    return Redirect("/dashboard/login")


@get("/", name="dashboard:overview")
async def overview(request: Request) -> Template:
    principal = await dashboard_principal(request)
    context = await panels.overview(principal, request.app.state.clock())
    return Template("overview.html", context={**context, "signed_in": True})


@get("/login", name="dashboard:login")
async def login_page() -> Template:
    return Template("login.html", context={"signed_in": False, "error": None})


@post("/login", status_code=303)
async def login(
    request: Request,
    data: Annotated[SignInForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[Any]:
    token = data.token.strip()
    principal = await authenticate(token, request.app.state.clock())
    if principal is None or principal.role != "dpo":
        return Template(
            "login.html",
            context={"signed_in": False, "error": "This is not a valid DPO token."},
            status_code=401,
        )
    response: Response[Any] = Redirect("/dashboard/", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        path="/dashboard",
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.public_base_url.startswith("https://"),
        max_age=8 * 3600,
    )
    return response


@post("/logout", status_code=303)
async def logout() -> Response[Any]:
    response: Response[Any] = Redirect("/dashboard/login", status_code=303)
    response.delete_cookie(COOKIE, path="/dashboard")
    return response


def _clock_rows(terms_json: dict[str, Any]) -> list[dict[str, Any]]:
    terms = load_terms(terms_json)
    rows = []
    for name in CLOCK_NAMES:
        try:
            term = clock_term(terms, name)
        except ClockNotInContractError:
            continue
        source = term.source
        rows.append(
            {
                "name": name.replace("_", " "),
                "duration": term.duration or f"contract silent: {term.fallback_duration or '—'}",
                "starts_at": term.starts_at.replace("_", " "),
                "extend": term.extend,
                "source": f"{source.seed} · {source.article}" if source else (term.fallback or ""),
            }
        )
    return rows


@get("/clients/{client_id:str}", name="dashboard:client")
async def client_page(request: Request, client_id: FromPath[str]) -> Template:
    await dashboard_principal(request)
    client = await contracts.get_client(client_id)
    detailed = []
    for contract in client["contracts"]:
        full = await contracts.get_contract(client_id, contract["id"])
        detailed.append({**full, "clocks": _clock_rows(full["terms"])})
    return Template(
        "client.html", context={"client": client, "contracts": detailed, "signed_in": True}
    )


dashboard_router = Router(
    path="/dashboard",
    route_handlers=[
        overview,
        login_page,
        login,
        logout,
        client_page,
        create_static_files_router(path="/static", directories=[HERE / "static"]),
    ],
    exception_handlers={DashboardSignInRequired: _to_sign_in},
    include_in_schema=False,
    opt={"exclude_from_auth": True},
)
TEMPLATE_DIR = HERE / "templates"
