"""structlog set-up: JSON off a terminal, pretty on one, a request id bound to every line.

Only identifiers go into log events: never tokens, e-mail addresses or request bodies.
"""

from __future__ import annotations

import logging
import sys
import uuid

import structlog
from litestar.types import ASGIApp, Receive, Scope, Send


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Bind a request id (the caller's X-Request-ID if sane) and log one line per request."""
    log = structlog.get_logger("gdpr_vault.http")

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if given.isalnum() and len(given) <= 64 else uuid.uuid4().hex
        status = {"code": 500}

        async def send_with_id(message: dict) -> None:  # type: ignore[type-arg]
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)  # type: ignore[arg-type]

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await app(scope, receive, send_with_id)  # type: ignore[arg-type]
        except Exception as exc:
            # Raised by inner middleware (e.g. authentication) and answered by Litestar's own
            # exception layer outside this one: log the status that answer will carry.
            status["code"] = getattr(exc, "status", None) or getattr(exc, "status_code", 500)
            raise
        finally:
            log.info(
                "http.request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status["code"],
            )
            structlog.contextvars.unbind_contextvars("request_id")

    return middleware
