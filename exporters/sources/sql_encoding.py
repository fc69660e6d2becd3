"""Rows to JSON Lines and CSV text: in Python (SQLite) or already serialised by PostgreSQL."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import math
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from exporters.sources.sql_spec import FORMATS


def _json_default(value: Any) -> Any:
    """Types JSON lacks: exact decimals as strings, instants in ISO 8601, bytes in base64."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _duration(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _duration(value: dt.timedelta) -> str:
    """ISO 8601 duration, the form Frictionless expects for ``duration`` fields."""
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    seconds = value.seconds + value.microseconds / 1_000_000
    return f"{sign}P{value.days}DT{seconds:g}S"


def _special_float(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("INF" if value > 0 else "-INF")
    return value


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=_json_default, allow_nan=False
)


def _csv_cell(value: Any) -> Any:
    """CSV text for values whose ``str()`` is not the Frictionless lexical form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return _special_float(value)
    if isinstance(value, dict | list):
        return _ENCODER.encode(value)
    return _json_default(value)


class _Encoder:
    """Turns batches of rows into JSON Lines and CSV bytes, and learns the column types."""

    def __init__(
        self,
        names: Sequence[str],
        declared: Sequence[tuple[str, str | None] | None],
        formats: Sequence[str] = FORMATS,
    ) -> None:
        self.names = list(names)
        self.declared = list(declared)
        self._jsonl = "jsonl" in formats
        self._csv_wanted = "csv" in formats
        self.seen: list[set[type]] = [set() for _ in names]
        # Columns whose str() is already right (ints, text, dates…) skip per-value conversion.
        self._convert = [
            i
            for i, d in enumerate(self.declared)
            if d is None
            or d[0] in ("boolean", "datetime", "duration", "any", "number", "array")
            or d[1] == "binary"
        ]
        self._csv = io.StringIO()
        self._csv_writer = csv.writer(self._csv, lineterminator="\r\n")
        self.rows = 0

    def header(self) -> bytes:
        self._csv_writer.writerow(self.names)
        return self._take_csv()

    def _take_csv(self) -> bytes:
        data = self._csv.getvalue().encode()
        self._csv.seek(0)
        self._csv.truncate(0)
        return data

    def encode(self, batch: Sequence[Sequence[Any]]) -> tuple[bytes, bytes]:
        self.rows += len(batch)
        if any(d is None for d in self.declared):
            for i, column in enumerate(zip(*batch, strict=True)):
                if self.declared[i] is None:
                    self.seen[i].update(map(type, column))
        return self._encode_jsonl(batch), self._encode_csv(batch)

    def _encode_jsonl(self, batch: Sequence[Sequence[Any]]) -> bytes:
        if not self._jsonl:
            return b""
        names = self.names
        encode = _ENCODER.encode
        lines = []
        for row in batch:
            try:
                lines.append(encode(dict(zip(names, row, strict=True))))
            except ValueError:  # NaN / Infinity, which JSON cannot carry as numbers
                lines.append(
                    encode({n: _special_float(v) for n, v in zip(names, row, strict=True)})
                )
        lines.append("")
        return "\n".join(lines).encode()

    def _encode_csv(self, batch: Sequence[Sequence[Any]]) -> bytes:
        if not self._csv_wanted:
            return b""
        if self._convert:
            convert = self._convert
            rows: Iterable[Sequence[Any]] = (
                [_csv_cell(v) if i in convert else v for i, v in enumerate(row)] for row in batch
            )
        else:
            rows = batch
        self._csv_writer.writerows(rows)
        return self._take_csv()

    def fields(self) -> list[dict[str, Any]]:
        fields = []
        for i, name in enumerate(self.names):
            declared = self.declared[i] or _infer(self.seen[i])
            field: dict[str, Any] = {"name": name, "type": declared[0]}
            if declared[1]:
                field["format"] = declared[1]
            fields.append(field)
        return fields


def _infer(seen: set[type]) -> tuple[str, str | None]:
    """Frictionless type from the Python types SQLite returned (it has no column types)."""
    kinds = seen - {type(None)}
    if not kinds:
        return ("any", None)
    if kinds <= {int}:
        return ("integer", None)
    if kinds <= {int, float}:
        return ("number", None)
    if kinds <= {str}:
        return ("string", None)
    if kinds <= {bytes}:
        return ("string", "binary")
    return ("any", None)


class _ServerEncoded:
    """Batches whose rows PostgreSQL already serialised: one text per requested format.

    Why: converting a million rows in Python (Decimal, datetime, dict → text) costs several
    microseconds a row, ten times ``COPY``. ``row_to_json`` and ``to_json`` run in the server
    (on the other core), in UTC and ISO 8601, and we only join and hash the text. Each fetched
    row is ``(json_text, csv_line)``, or a 1-tuple of the one format asked for.
    """

    def __init__(
        self,
        names: Sequence[str],
        declared: Sequence[tuple[str, str | None]],
        formats: Sequence[str] = FORMATS,
    ) -> None:
        self.names = list(names)
        self.declared = list(declared)
        self.formats = tuple(f for f in FORMATS if f in formats)
        self.rows = 0

    def header(self) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow(self.names)
        return buffer.getvalue().encode()

    def encode(self, batch: Sequence[tuple[str, ...]]) -> tuple[bytes, bytes]:
        if not batch:
            return b"", b""
        self.rows += len(batch)
        columns = dict(zip(self.formats, zip(*batch, strict=True), strict=True))
        json_lines = columns.get("jsonl")
        csv_lines = columns.get("csv")
        return (
            "\n".join((*json_lines, "")).encode() if json_lines else b"",
            "\r\n".join((*csv_lines, "")).encode() if csv_lines else b"",
        )

    def fields(self) -> list[dict[str, Any]]:
        fields = []
        for name, (kind, fmt) in zip(self.names, self.declared, strict=True):
            field: dict[str, Any] = {"name": name, "type": kind}
            if fmt:
                field["format"] = fmt
            fields.append(field)
        return fields
