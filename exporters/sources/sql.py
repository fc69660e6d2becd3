"""Rows of a PostgreSQL or SQLite database, per client, as JSON Lines + CSV + datapackage.json.

URL syntax (see docs/exporters.md)::

    postgresql://user:pw@host:5432/db?table=orders:tenant_id&table=customers:client_id
        &query=invoices:SELECT * FROM invoices WHERE client = :client#crm
    sqlite:///srv/app/{client}.db?table=orders:tenant_id

``table=NAME:TENANT_COLUMN`` exports ``SELECT * FROM NAME WHERE TENANT_COLUMN = <client>``
(ordered by the primary key so reruns are identical); ``query=NAME:SQL`` runs a SELECT that must
contain the ``:client`` placeholder, so no query can silently export every tenant. All tables of
one source are read in one read-only REPEATABLE READ transaction (one snapshot), through a
server-side cursor fetched ``itersize`` rows at a time, never ``fetchall``. Each row is written
once into both files while both are hashed.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import math
import queue
import re
import sqlite3
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from exporters.errors import InputError
from exporters.journal import Record
from exporters.redact import redact_url
from exporters.sources.base import InventoryItem, Sink, payload_root

DEFAULT_ITERSIZE = 5000
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OUTPUT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_CLIENT_PARAM = re.compile(r"(?<![:\w]):client\b")
_OWN_PARAMS = frozenset({"table", "query", "itersize"})
CSV_DIALECT = {"delimiter": ",", "lineTerminator": "\r\n", "quoteChar": '"', "header": True}

# PostgreSQL type names → Frictionless Table Schema types (anything else is exported as text).
_PG_TYPES: dict[str, tuple[str, str | None]] = {
    **{n: ("integer", None) for n in ("int2", "int4", "int8", "oid", "smallint", "integer")},
    **{n: ("number", None) for n in ("float4", "float8", "numeric", "money")},
    "bool": ("boolean", None),
    "date": ("date", None),
    "timestamp": ("datetime", None),
    "timestamptz": ("datetime", None),
    "time": ("time", None),
    "timetz": ("time", None),
    "interval": ("duration", None),
    "json": ("any", None),
    "jsonb": ("any", None),
    "uuid": ("string", "uuid"),
    "bytea": ("string", "binary"),
}


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
        self, names: Sequence[str], declared: Sequence[tuple[str, str | None] | None]
    ) -> None:
        self.names = list(names)
        self.declared = list(declared)
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
        jsonl = "\n".join(lines).encode()
        if self._convert:
            convert = self._convert
            rows: Iterable[Sequence[Any]] = (
                [_csv_cell(v) if i in convert else v for i, v in enumerate(row)] for row in batch
            )
        else:
            rows = batch
        self._csv_writer.writerows(rows)
        return jsonl, self._take_csv()

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


def parse_specs(query: str, display: str) -> tuple[list[Spec], int, list[tuple[str, str]]]:
    """Split our parameters (table, query, itersize) from the driver's own (sslmode…)."""
    specs: list[Spec] = []
    itersize = DEFAULT_ITERSIZE
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
        else:
            passthrough.append((key, value))
    if not specs:
        raise InputError(f"SQL source {display} names no table= or query=")
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"SQL source {display}: output names used twice: {', '.join(duplicates)}")
    return specs, itersize, passthrough


class SqlTask:
    """All tables of one SQL source, read in a single snapshot, then its datapackage.json."""

    def __init__(self, source: SqlSource) -> None:
        self._source = source
        self.label = source.display
        self.size_hint = 0

    def run(self, sink: Sink) -> None:
        source = self._source
        records: list[tuple[Spec, Record, Record]] = []
        pending = []
        for spec in source.specs:
            identity = source.identity(spec)
            done = [
                sink.completed(source.output_path(spec, ext), identity) for ext in ("jsonl", "csv")
            ]
            if done[0] is not None and done[1] is not None:
                for record in done:
                    sink.reuse(record)
                records.append((spec, done[0], done[1]))
            else:
                pending.append(spec)
        if pending:
            with source.reader() as reader:
                for spec in pending:
                    records.append((spec, *self._export(sink, reader, spec)))
        self._write_datapackage(sink, sorted(records, key=lambda r: r[0].name))

    def _export(self, sink: Sink, reader: _Reader, spec: Spec) -> tuple[Record, Record]:
        source = self._source
        identity = source.identity(spec)
        json_path, csv_path = (source.output_path(spec, ext) for ext in ("jsonl", "csv"))
        json_out, csv_out = sink.open(json_path), sink.open(csv_path)
        try:
            encoder: _Encoder | _ServerEncoded | None = None
            for batch_or_header in reader.rows(spec, source.itersize):
                if encoder is None:
                    encoder = batch_or_header
                    csv_out.write(encoder.header())
                    continue
                jsonl, csv_bytes = encoder.encode(batch_or_header)
                json_out.write(jsonl)
                csv_out.write(csv_bytes)
        except BaseException:
            json_out.abort()
            csv_out.abort()
            raise
        assert encoder is not None
        meta = {"rows": encoder.rows, "fields": encoder.fields()}
        return (
            sink.commit(json_out, json_path, identity, meta),
            sink.commit(csv_out, csv_path, identity, meta),
        )

    def _write_datapackage(self, sink: Sink, records: list[tuple[Spec, Record, Record]]) -> None:
        resources = []
        for spec, json_record, csv_record in records:
            base = _resource_name(spec.name)
            schema = {"fields": csv_record.meta["fields"]}
            resources.append(
                {
                    "profile": "tabular-data-resource",
                    "name": base,
                    "path": f"{spec.name}.csv",
                    "format": "csv",
                    "mediatype": "text/csv",
                    "encoding": "utf-8",
                    "dialect": CSV_DIALECT,
                    "bytes": csv_record.size,
                    "hash": f"sha256:{csv_record.sha256}",
                    "schema": schema,
                    "description": f"{csv_record.meta['rows']} rows",
                }
            )
            resources.append(
                {
                    "profile": "data-resource",
                    "name": f"{base}-jsonl",
                    "path": f"{spec.name}.jsonl",
                    "format": "jsonl",
                    "mediatype": "application/jsonl",
                    "encoding": "utf-8",
                    "bytes": json_record.size,
                    "hash": f"sha256:{json_record.sha256}",
                    "schema": schema,
                    "description": (
                        f"{json_record.meta['rows']} rows, one JSON object per line; same rows "
                        f"as {spec.name}.csv (instants in UTC ISO 8601, bytes in base64)"
                    ),
                }
            )
        package = {
            "profile": "data-package",
            "name": _resource_name(self._source.name),
            "title": f"SQL export of {self._source.display}",
            "resources": resources,
        }
        data = (json.dumps(package, indent=2, ensure_ascii=False) + "\n").encode()
        path = f"{self._source.root_path}/datapackage.json"
        identity = "datapackage:" + hashlib.sha256(data).hexdigest()
        record = sink.completed(path, identity)
        if record is not None:
            sink.reuse(record)
            return
        writer = sink.open(path)
        writer.write(data)
        sink.commit(writer, path, identity)


def _resource_name(name: str) -> str:
    """Frictionless names are lower-case ``[-a-z0-9._/]``."""
    return re.sub(r"[^-a-z0-9._]", "-", name.lower()) or "table"


class _Reader(ABC):
    """Yields first ``(names, declared types)``, then batches of row tuples."""

    @abstractmethod
    def rows(self, spec: Spec, itersize: int) -> Iterator[Any]:
        """One reader per database driver (PostgreSQL, SQLite)."""

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _ServerEncoded:
    """Batches whose rows PostgreSQL already serialised: ``(json_text, csv_line)`` pairs.

    Why: converting a million rows in Python (Decimal, datetime, dict → text) costs several
    microseconds a row, ten times ``COPY``. ``row_to_json`` and ``to_json`` run in the server
    (on the other core), in UTC and ISO 8601, and we only join and hash the text.
    """

    def __init__(self, names: Sequence[str], declared: Sequence[tuple[str, str | None]]) -> None:
        self.names = list(names)
        self.declared = list(declared)
        self.rows = 0

    def header(self) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow(self.names)
        return buffer.getvalue().encode()

    def encode(self, batch: Sequence[tuple[str, str]]) -> tuple[bytes, bytes]:
        self.rows += len(batch)
        json_lines, csv_lines = zip(*batch, strict=True)
        json_lines += ("",)
        csv_lines += ("",)
        return "\n".join(json_lines).encode(), "\r\n".join(csv_lines).encode()

    def fields(self) -> list[dict[str, Any]]:
        fields = []
        for name, (kind, fmt) in zip(self.names, self.declared, strict=True):
            field: dict[str, Any] = {"name": name, "type": kind}
            if fmt:
                field["format"] = fmt
            fields.append(field)
        return fields


# Text forms for CSV cells, per Frictionless type; ``{}`` is the column. Values that cannot
# contain a comma, quote or newline stay bare; every other non-null value is quoted.
_BARE_CSV = {
    "integer": "{}::text",
    "number": "{}::text",
    "boolean": "CASE WHEN {} THEN 'true' ELSE 'false' END",
    "date": "{}::text",
    "datetime": "to_json({}) #>> '{{}}'",
    "time": "{}::text",
    "duration": "{}::text",
}


def _prefetched(fetch: Callable[[], list[Any]]) -> Iterator[list[Any]]:
    """Fetch the next batch in a helper thread while the caller writes and hashes this one.

    The server serialises rows while we hash and write: with one batch in hand and at most two
    waiting, both cores stay busy and memory stays bounded by three batches.
    """
    batches: queue.Queue[list[Any] | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def pump() -> None:
        try:
            while not stop.is_set():
                batch = fetch()
                if not batch:
                    break
                batches.put(batch)
        except BaseException as exc:
            batches.put(exc)
            return
        batches.put(None)

    thread = threading.Thread(target=pump, name="exporters-sql-fetch", daemon=True)
    thread.start()
    try:
        while (item := batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a pump waiting on a full queue, then let it end
            with contextlib.suppress(queue.Empty):
                batches.get(timeout=0.05)
        thread.join()


class _PostgresReader(_Reader):
    def __init__(self, conninfo: str, client: str, display: str) -> None:
        import psycopg

        self._psycopg = psycopg
        self._client = client
        self._display = display
        try:
            self._conn = psycopg.connect(conninfo, autocommit=False)
        except psycopg.Error as exc:
            raise InputError(f"SQL source {display}: cannot connect: {exc}") from exc
        self._conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self._conn.read_only = True
        # Same text for the same data whatever the server's or the role's settings.
        self._conn.execute(
            "SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO', true),"
            " set_config('IntervalStyle', 'iso_8601', true),"
            " set_config('extra_float_digits', '1', true)"
        )

    def __exit__(self, *exc: object) -> None:
        self._conn.rollback()
        self._conn.close()

    def _statement(self, spec: Spec) -> Any:
        from psycopg import sql

        if spec.kind == "query":
            assert spec.query is not None
            text = _CLIENT_PARAM.sub("%(client)s", spec.query.replace("%", "%%"))
            return sql.SQL(text)  # type: ignore[arg-type]
        assert spec.table is not None and spec.column is not None
        table = sql.Identifier(*spec.table.split("."))
        order = self._primary_key(table)
        statement = sql.SQL("SELECT * FROM {} WHERE {} = %(client)s").format(
            table, sql.Identifier(spec.column)
        )
        if order:
            statement += sql.SQL(" ORDER BY {}").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in order)
            )
        return statement

    def _primary_key(self, table: Any) -> list[str]:
        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
                " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
                " WHERE i.indrelid = %s::regclass AND i.indisprimary"
                " ORDER BY array_position(i.indkey::int2[], a.attnum)",
                (table.as_string(self._conn),),
            )
            return [row[0] for row in cur.fetchall()]

    def _describe(self, inner: Any, params: dict[str, str]) -> tuple[list[str], list[Any]]:
        from psycopg import sql

        with self._conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT * FROM ({}) q LIMIT 0").format(inner), params)
            assert cur.description is not None
            names = [c.name for c in cur.description]
            declared: list[tuple[str, str | None]] = []
            for column in cur.description:
                info = self._conn.adapters.types.get(column.type_code)
                if info is not None and info.array_oid == column.type_code:
                    declared.append(("array", None))
                else:
                    declared.append(_PG_TYPES.get(info.name if info else "", ("string", None)))
        return names, declared

    def rows(self, spec: Spec, itersize: int) -> Iterator[Any]:
        psycopg = self._psycopg
        params = {"client": self._client}
        try:
            inner = self._statement(spec)
            names, declared = self._describe(inner, params)
            statement = self._statement_with_csv(inner, declared, names)
            with self._conn.cursor(name=f"exporters_{spec.name}"[:60]) as cur:
                cur.itersize = itersize
                cur.execute(statement, params)
                yield _ServerEncoded(names, declared)
                yield from _prefetched(lambda: cur.fetchmany(itersize))
        except psycopg.Error as exc:
            raise InputError(f"SQL source {self._display}, {spec.name}: {exc}".strip()) from exc

    def _statement_with_csv(
        self, inner: Any, declared: Sequence[tuple[str, str | None]], names: list[str]
    ) -> Any:
        from psycopg import sql

        aliases = [sql.Identifier(f"c{i}") for i in range(len(names))]
        json_cols = []
        csv_cells = []
        for alias, name, (kind, fmt) in zip(aliases, names, declared, strict=True):
            column = sql.SQL("q.{}").format(alias)
            if fmt == "binary":
                value: Any = sql.SQL("translate(encode({}, 'base64'), E'\\n', '')").format(column)
            else:
                value = column
            json_cols.append(sql.SQL("{} AS {}").format(value, sql.Identifier(name)))
            if kind in _BARE_CSV:
                text: Any = sql.SQL(_BARE_CSV[kind]).format(column)  # type: ignore[arg-type]
                csv_cells.append(sql.SQL("coalesce({}, '')").format(text))
                continue
            if fmt == "binary":
                text = value
            elif kind == "array":
                text = sql.SQL("to_json({})::text").format(column)
            else:
                text = sql.SQL("{}::text").format(column)
            csv_cells.append(
                sql.SQL("""coalesce('"' || replace({}, '"', '""') || '"', '')""").format(text)
            )
        return sql.SQL(
            "SELECT row_to_json(j)::text, concat_ws(',', {csv})"
            " FROM ({inner}) q({aliases}), LATERAL (SELECT {json}) j"
        ).format(
            csv=sql.SQL(", ").join(csv_cells),
            json=sql.SQL(", ").join(json_cols),
            aliases=sql.SQL(", ").join(aliases),
            inner=inner,
        )


class _SqliteReader(_Reader):
    def __init__(self, path: Path, client: str, display: str) -> None:
        self._client = client
        self._display = display
        try:
            self._conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None)
            self._conn.execute("BEGIN")  # one snapshot for every table of the source
        except sqlite3.Error as exc:
            raise InputError(f"SQL source {display}: cannot open: {exc}") from exc

    def __exit__(self, *exc: object) -> None:
        self._conn.rollback()
        self._conn.close()

    def _statement(self, spec: Spec) -> str:
        if spec.kind == "query":
            assert spec.query is not None
            return spec.query
        assert spec.table is not None and spec.column is not None
        table = ".".join(f'"{part}"' for part in spec.table.split("."))
        info = self._conn.execute(f"PRAGMA table_info({table})").fetchall()
        if not info:
            raise InputError(f"SQL source {self._display}: no table {spec.table!r}")
        keys = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]]
        order = ", ".join(f'"{k}"' for k in keys) if keys else "rowid"
        return f'SELECT * FROM {table} WHERE "{spec.column}" = :client ORDER BY {order}'

    def rows(self, spec: Spec, itersize: int) -> Iterator[Any]:
        try:
            cur = self._conn.execute(self._statement(spec), {"client": self._client})
            names = [c[0] for c in cur.description]
            yield _Encoder(names, [None] * len(names))
            while batch := cur.fetchmany(itersize):
                yield batch
        except sqlite3.Error as exc:
            raise InputError(f"SQL source {self._display}, {spec.name}: {exc}") from exc


class SqlSource:
    kind = "sql"

    def __init__(self, url: str, client: str, name: str | None = None) -> None:
        self.display = redact_url(url)
        parts = urlsplit(url)
        self._client = client
        self.specs, self.itersize, passthrough = parse_specs(parts.query, self.display)
        self._redacted_base = self.display.split("?", 1)[0]
        self._open: Callable[[], _Reader]
        if parts.scheme == "sqlite":
            raw = unquote(parts.path if parts.netloc == "" else parts.netloc + parts.path)
            if "{client}" in raw and not client:
                raise InputError(f"SQL source {self.display} needs --client")
            path = Path(raw.replace("{client}", client))
            if not path.is_file():
                raise InputError(f"SQL source {self.display}: database file {path} does not exist")
            self.name = name or path.stem
            self._open = lambda: _SqliteReader(path, client, self.display)
        else:
            query = "&".join(f"{k}={v}" for k, v in passthrough)
            conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, query, ""))
            self.name = name or (unquote(parts.path).strip("/") or "postgres")
            self._open = lambda: _PostgresReader(conninfo, client, self.display)
        self.root_path = payload_root(self.kind, self.name)

    def identity(self, spec: Spec) -> str:
        text = f"{self._redacted_base}|{self._client}|{spec.fingerprint()}"
        return "sql:" + hashlib.sha256(text.encode()).hexdigest()

    def output_path(self, spec: Spec, ext: str) -> str:
        return f"{self.root_path}/{spec.name}.{ext}"

    def reader(self) -> _Reader:
        return self._open()

    def tasks(self, sink: Sink) -> Iterator[SqlTask]:
        yield SqlTask(self)

    def scan(self) -> tuple[int, int]:
        return 2 * len(self.specs) + 1, 0

    def inventory(self) -> Iterator[InventoryItem]:
        """Row counts per table for this client (a deletion check expects zeros)."""
        with self.reader() as reader:
            for spec in self.specs:
                count = 0
                for item in reader.rows(spec, self.itersize):
                    if isinstance(item, list):
                        count += len(item)
                yield InventoryItem(self.display, spec.name, None, self.identity(spec), rows=count)
