"""Small helpers every controller uses: who is calling, what time it is, the page asked for."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request
from litestar.exceptions import SerializationException
from litestar.types import ASGIApp, Receive, Scope, Send

from gdpr_vault.auth.guards import principal_of
from gdpr_vault.auth.tokens import Principal
from gdpr_vault.errors import MalformedRequest
from gdpr_vault.problems import field_from


def caller(request: Request) -> Principal:
    return principal_of(request)


def now_of(request: Request) -> datetime:
    return request.app.state.clock()


NUL = "\x00"


def nul_field(value: Any) -> str | None:
    """The JSON path of the first string or key holding U+0000, or None.

    No text the service keeps may hold a NUL character: PostgreSQL's ``text`` cannot store one
    (SQLite can), so the same input must be refused on both, and before it reaches a query.
    Iterative, as a body may nest as deep as the JSON decoder allows.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return path or "body"
        elif isinstance(item, dict):
            for key, inner in reversed(item.items()):
                field = f"{path}.{key}" if path else str(key)
                if NUL in str(key):
                    return field
                stack.append((field, inner))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", inner) for i, inner in reversed(list(enumerate(item))))
    return None


def nul_refusal(field: str) -> MalformedRequest:
    return MalformedRequest(f"{field} holds a NUL character", field=field, rule="no-nul-character")


def refuse_nul_characters(app: ASGIApp) -> ASGIApp:
    """Path and query parameters with U+0000 are refused before any guard or query sees them."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in (scope.get("path_params") or {}).items():
                if isinstance(value, str) and NUL in value:
                    raise nul_refusal(name)
            query = scope.get("query_string", b"").decode("latin-1")
            for name, value in parse_qsl(query, keep_blank_values=True):
                if NUL in name or NUL in value:
                    raise nul_refusal(name.replace(NUL, "") or "query")
        await app(scope, receive, send)

    return middleware


class JsonBodyRequest(Request[Any, Any, Any]):
    """A request whose JSON body, when unreadable, is refused as a 400 naming the rule.

    Litestar maps msgspec's syntax errors to a bare 400 but lets the decoder's
    ``UnicodeDecodeError`` (bytes that are not UTF-8) and ``RecursionError`` (nesting deeper
    than the decoder's limit) escape as 500s. A string holding U+0000 is refused too.
    """

    async def json(self) -> Any:
        try:
            value = await super().json()
        except SerializationException as exc:
            raise MalformedRequest(
                f"the body is not valid JSON: {exc.detail}", field="body", rule="json-syntax"
            ) from exc
        except UnicodeDecodeError as exc:
            raise MalformedRequest(
                "the body is not valid UTF-8", field="body", rule="utf-8"
            ) from exc
        except RecursionError as exc:
            raise MalformedRequest(
                "the body nests JSON too deeply", field="body", rule="max-depth"
            ) from exc
        field = nul_field(value)
        if field is not None:
            raise nul_refusal(field)
        _check_types_strictly(self, value)
        return value


def _check_types_strictly(request: Request[Any, Any, Any], value: Any) -> None:
    """Refuse a body whose JSON types are wrong, before Litestar's lenient conversion runs.

    Litestar converts bodies with msgspec's ``strict=False``, which turns ``0`` into the
    instant 1970-01-01T00:00Z and ``1`` into ``true``: a breach's ``aware_at: 0`` was
    accepted. The same conversion, strict, names the field and changes nothing.
    """
    try:
        parameter = request.route_handler.parsed_fn_signature.parameters.get("data")
    except AttributeError:  # no route resolved (yet): nothing to check against
        return
    if parameter is None:
        return
    try:
        msgspec.convert(value, parameter.annotation, strict=True)
    except TypeError:  # a type msgspec does not convert to: Litestar's own decoding decides
        return
    except msgspec.ValidationError as exc:
        message = str(exc)
        raise MalformedRequest(
            message, field=field_from(message) or "body", rule="json-type"
        ) from None
