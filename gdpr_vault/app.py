"""The Litestar application factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from gdpr_vault import __version__, db
from gdpr_vault.audits.access import auditor_access_middleware
from gdpr_vault.audits.api import ROUTES as AUDIT_ROUTES
from gdpr_vault.auth.api import TokenController, whoami
from gdpr_vault.auth.middleware import BearerTokenMiddleware
from gdpr_vault.breaches.api import BreachController, ClientBreachController
from gdpr_vault.contracts.api import ClientController, PresetController
from gdpr_vault.dashboard.views import TEMPLATE_DIR, dashboard_router
from gdpr_vault.evidence.api import ClientTrailController, TrailController, get_keys
from gdpr_vault.jobs.api import list_jobs, retry_job
from gdpr_vault.jobs.worker import run_worker
from gdpr_vault.logs import configure_logging, request_id_middleware
from gdpr_vault.notifications.api import ClientNoticeController, OutboxController, receipt_link
from gdpr_vault.problems import EXCEPTION_HANDLERS
from gdpr_vault.registers.api import ClientRegisterController, RegisterController
from gdpr_vault.reversibility.api import (
    ClientReversibilityController,
    ReversibilityController,
)
from gdpr_vault.settings import Settings, get_settings
from gdpr_vault.subprocessors.api import ROUTES as SUBPROCESSOR_ROUTES
from gdpr_vault.subprocessors.api import public_routes as subprocessor_public_routes
from gdpr_vault.timeutil import Clock, system_clock
from gdpr_vault.web import JsonBodyRequest, refuse_nul_characters


@get("/api/v1/health", exclude_from_auth=True, tags=["meta"], summary="Liveness and database")
async def health() -> dict[str, Any]:
    from gdpr_vault.jobs.tables import Job

    await Job.count()
    return {"status": "ok", "version": __version__}


ROUTES: list[Any] = [
    health,
    get_keys,
    whoami,
    PresetController,
    ClientController,
    ClientTrailController,
    TokenController,
    TrailController,
    list_jobs,
    retry_job,
    dashboard_router,
    *SUBPROCESSOR_ROUTES,
    ClientNoticeController,
    OutboxController,
    receipt_link,
    BreachController,
    ClientBreachController,
    RegisterController,
    ClientRegisterController,
    *AUDIT_ROUTES,
    ReversibilityController,
    ClientReversibilityController,
]


def create_app(
    settings: Settings | None = None,
    clock: Clock = system_clock,
    *,
    run_worker_in_process: bool | None = None,
) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    in_process = (
        settings.worker_in_process if run_worker_in_process is None else run_worker_in_process
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await db.start_pool()
        stop = asyncio.Event()
        task = asyncio.create_task(run_worker(settings, clock, stop)) if in_process else None
        try:
            yield
        finally:
            stop.set()
            if task:
                await task
            await db.close_pool()

    return Litestar(
        route_handlers=[*ROUTES, *subprocessor_public_routes(settings)],
        state=State({"clock": clock, "settings": settings}),
        lifespan=[lifespan],
        middleware=[
            request_id_middleware,
            refuse_nul_characters,  # PostgreSQL text cannot hold U+0000: refuse it up front
            DefineMiddleware(
                BearerTokenMiddleware,
                exclude=["^/schema", "^/dashboard"],
                exclude_from_auth_key="exclude_from_auth",
            ),
            auditor_access_middleware,  # after authentication: every auditor request -> trail
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=JsonBodyRequest,
        template_config=TemplateConfig(directory=TEMPLATE_DIR, engine=JinjaTemplateEngine),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="gdpr-vault",
            version=__version__,
            description="A processor's GDPR obligations towards its clients, run and proven.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", description="gv_...")
                }
            ),
            security=[{"bearer": []}],
        ),
        debug=False,
    )
