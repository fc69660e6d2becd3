"""Cursor pagination over time-sortable ids: stable under inserts, no offsets to drift."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar.params import QueryParameter

from gdpr_vault.errors import ValidationProblem
from gdpr_vault.ids import is_valid_id

MAX_LIMIT = 500

# A page size as a query parameter, for every paginated route.
LimitQuery = Annotated[int | None, QueryParameter(ge=1, le=MAX_LIMIT)]


@dataclass(frozen=True)
class PageRequest:
    limit: int = 50
    cursor: str | None = None

    @classmethod
    def parse(cls, limit: int | None, cursor: str | None) -> PageRequest:
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            raise ValidationProblem(
                f"limit must be between 1 and {MAX_LIMIT}", field="limit", rule="range"
            )
        if cursor is not None and not is_valid_id(cursor):
            raise ValidationProblem("cursor is not a valid id", field="cursor", rule="id-format")
        return cls(limit or 50, cursor)


def page(items: list[dict[str, Any]], request: PageRequest, key: str = "id") -> dict[str, Any]:
    """``items`` were fetched with limit+1 so we know whether a next page exists."""
    has_more = len(items) > request.limit
    items = items[: request.limit]
    return {"items": items, "next_cursor": items[-1][key] if has_more and items else None}
