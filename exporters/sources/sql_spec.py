"""What a SQL source URL asks for: tables and queries, batch size, output formats.

Kept apart from the readers so that parsing a URL (and refusing a bad one before anything is
read) needs no database driver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import unquote

from exporters.errors import InputError

DEFAULT_ITERSIZE = 5000
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?\Z")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_OUTPUT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_CLIENT_PARAM = re.compile(r"(?<![:\w]):client\b")
_OWN_PARAMS = frozenset({"table", "query", "itersize", "formats"})
FORMATS = ("jsonl", "csv")  # every output format, in the order files are opened and listed
COPY_CHUNK = 1024 * 1024  # COPY rows are joined into writes of at least this many bytes
CSV_DIALECT = {"delimiter": ",", "lineTerminator": "\r\n", "quoteChar": '"', "header": True}


@dataclass(frozen=True)
class Spec:
    """One exported table: output name, SQL text and its parameters."""

    name: str
    kind: str  # "table" or "query"
    table: str | None
    column: str | None
    query: str | None

    def fingerprint(self) -> str:
        return f"{self.kind}:{self.name}:{self.table}:{self.column}:{self.query}"


class SqlOptions(NamedTuple):
    """What a SQL source URL asks for, once our own parameters are split from libpq's."""

    specs: list[Spec]
    itersize: int
    formats: tuple[str, ...]  # a non-empty subset of FORMATS, in FORMATS order
    passthrough: list[tuple[str, str]]


def parse_formats(value: str, display: str) -> tuple[str, ...]:
    """``jsonl``, ``csv`` or both, comma-separated; returned in :data:`FORMATS` order.

    Why a fixed order: the resume identity and ``datapackage.json`` must not depend on how the
    operator spelt the list (``csv,jsonl`` and ``jsonl,csv`` are the same export).
    """
    wanted = [part.strip() for part in value.split(",")]
    if not value.strip() or any(part not in FORMATS for part in wanted):
        raise InputError(f"SQL source {display}: formats={value!r} must be jsonl, csv or jsonl,csv")
    return tuple(f for f in FORMATS if f in wanted)


def parse_specs(query: str, display: str) -> SqlOptions:
    """Split our parameters (table, query, itersize, formats) from the driver's own (sslmode…)."""
    specs: list[Spec] = []
    itersize = DEFAULT_ITERSIZE
    formats = FORMATS
    passthrough: list[tuple[str, str]] = []
    for piece in filter(None, query.split("&")):
        key, _sep, raw = piece.partition("=")
        key, value = unquote(key), unquote(raw)
        if key == "table":
            table, sep, column = value.partition(":")
            if not sep or not _TABLE.match(table) or not _COLUMN.match(column):
                raise InputError(
                    f"SQL source {display}: table={value!r} must be NAME:TENANT_COLUMN "
                    "(letters, digits, '_'; NAME may be schema.table)"
                )
            specs.append(Spec(table, "table", table, column, None))
        elif key == "query":
            name, sep, sql = value.partition(":")
            if not sep or not _OUTPUT.match(name) or not sql.strip():
                raise InputError(f"SQL source {display}: query= must be NAME:SELECT …")
            if not _CLIENT_PARAM.search(sql):
                raise InputError(
                    f"SQL source {display}: query {name!r} must filter on the :client placeholder"
                )
            specs.append(Spec(name, "query", None, None, sql))
        elif key == "itersize":
            if not value.isdigit() or int(value) < 1:
                raise InputError(f"SQL source {display}: itersize must be a positive integer")
            itersize = int(value)
        elif key == "formats":
            formats = parse_formats(value, display)
        else:
            passthrough.append((key, value))
    if not specs:
        raise InputError(f"SQL source {display} names no table= or query=")
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"SQL source {display}: output names used twice: {', '.join(duplicates)}")
    return SqlOptions(specs, itersize, formats, passthrough)
