"""Exception handlers: every error leaves as application/problem+json, never a stack trace."""

from __future__ import annotations

import re
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from gdpr_vault.errors import PROBLEM_BASE, Problem, ValidationProblem
from gdpr_vault.timeutil import InstantError

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("gdpr_vault.errors")

_SLUGS = {
    400: "malformed-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "too-many-requests",
}


def _response(body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(body, status_code=body["status"], media_type=PROBLEM_JSON)


def problem_handler(request: Request, exc: Problem) -> Response[dict[str, Any]]:
    return _response(exc.to_dict(instance=request.url.path))


def instant_handler(request: Request, exc: InstantError) -> Response[dict[str, Any]]:
    """An instant refused where no service turned it into a problem itself: still a 422."""
    problem = ValidationProblem(str(exc), field=exc.field, rule=exc.rule)
    return problem_handler(request, problem)


_AT_PATH = re.compile(r"at `\$\.?([^`]*)`")


def field_from(message: str) -> str | None:
    """The field a msgspec message is about (``... - at `$.a.b` `` -> ``a.b``; ``$`` -> body)."""
    match = _AT_PATH.search(message)
    return match.group(1) or "body" if match else None


def validation_handler(request: Request, exc: ValidationException) -> Response[dict[str, Any]]:
    """Litestar's body and parameter validation, reshaped to name the field and the rule."""
    errors = exc.extra if isinstance(exc.extra, list) else []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    message = str(first.get("message") or exc.detail)
    field = first.get("key") or field_from(message) or field_from(str(exc.detail))
    body = {
        "type": PROBLEM_BASE + "validation-error",
        "title": "The request breaks a rule",
        "status": 400,
        "detail": message,
        "instance": request.url.path,
        "field": field or "body",
        "rule": first.get("source", "schema"),
        "errors": errors,
    }
    return _response(body)


def http_handler(request: Request, exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    body = {
        "type": PROBLEM_BASE + _SLUGS.get(status, "error"),
        "title": exc.detail if status < 500 else "Internal error",
        "status": status,
        "detail": exc.detail if status < 500 else "the server could not complete the request",
        "instance": request.url.path,
    }
    if status == 413:
        body["field"] = "body"
        body["rule"] = "max-body-size"
    return _response(body)


def internal_handler(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    log.error("http.unhandled", path=request.url.path, error=type(exc).__name__)
    return _response(
        {
            "type": PROBLEM_BASE + "internal-error",
            "title": "Internal error",
            "status": 500,
            "detail": "the server could not complete the request; nothing was partially written",
            "instance": request.url.path,
        }
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    Problem: problem_handler,
    InstantError: instant_handler,
    ValidationException: validation_handler,
    HTTPException: http_handler,
    Exception: internal_handler,
}
