"""One reader per database driver: a snapshot, then rows in batches or JSON Lines chunks."""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from exporters.errors import InputError
from exporters.sources.sql_encoding import _Encoder, _ServerEncoded
from exporters.sources.sql_spec import _CLIENT_PARAM, COPY_CHUNK, FORMATS, Spec

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


class _Reader(ABC):
    """Yields first ``(names, declared types)``, then batches of row tuples."""

    @abstractmethod
    def rows(self, spec: Spec, itersize: int, formats: Sequence[str] = FORMATS) -> Iterator[Any]:
        """One reader per database driver (PostgreSQL, SQLite).

        ``formats`` names the outputs the caller will write, so no work is spent on the others.
        """

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


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


_Batch = TypeVar("_Batch", list[Any], bytes)


def _prefetched(fetch: Callable[[], _Batch]) -> Iterator[_Batch]:
    """Fetch the next batch in a helper thread while the caller writes and hashes this one.

    The server serialises rows while we hash and write: with one batch in hand and at most two
    waiting, both cores stay busy and memory stays bounded by three batches. A batch is a list
    of rows (cursor) or a chunk of whole lines (COPY); an empty one ends the stream.
    """
    batches: queue.Queue[_Batch | BaseException | None] = queue.Queue(maxsize=2)
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


# Type names whose ``to_json`` text never holds a raw newline: everything PostgreSQL escapes or
# prints itself. ``json`` is embedded verbatim (whitespace and all), and so are composites,
# records and types we do not know, which may contain one.
_RAW_JSON_TYPES = frozenset({"json", "record"})

# COPY in CSV format with a delimiter and a quote byte that JSON text never contains raw: each
# line is then exactly the one column's text, unquoted (text format would double backslashes).
_COPY_JSONL = "COPY ({}) TO STDOUT WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"


class _JsonlStreamer(ABC):
    """A reader whose driver streams JSON Lines with no per-row step in Python (COPY)."""

    @abstractmethod
    def jsonl_chunks(self, spec: Spec) -> Iterator[Any]:
        """First a :class:`_ServerEncoded` (column names and types), then ``bytes`` chunks,
        each holding whole JSON lines that end in ``\\n``."""


class _PostgresReader(_Reader, _JsonlStreamer):
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
        # Same text for the same data whatever the server's or the role's settings. UTF8 because
        # COPY hands us the server's bytes as they are, where a cursor's text is decoded first.
        self._conn.execute(
            "SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO', true),"
            " set_config('IntervalStyle', 'iso_8601', true),"
            " set_config('extra_float_digits', '1', true),"
            " set_config('client_encoding', 'UTF8', true)"
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

    def _describe(
        self, inner: Any, params: dict[str, str]
    ) -> tuple[list[str], list[tuple[str, str | None]], bool]:
        """Column names, their Frictionless types, and whether a row's JSON may hold a newline."""
        from psycopg import sql

        with self._conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT * FROM ({}) q LIMIT 0").format(inner), params)
            assert cur.description is not None
            names = [c.name for c in cur.description]
            declared: list[tuple[str, str | None]] = []
            raw_json = False
            for column in cur.description:
                info = self._conn.adapters.types.get(column.type_code)
                raw_json = raw_json or info is None or info.name in _RAW_JSON_TYPES
                if info is not None and info.array_oid == column.type_code:
                    declared.append(("array", None))
                else:
                    declared.append(_PG_TYPES.get(info.name if info else "", ("string", None)))
        return names, declared, raw_json

    def rows(self, spec: Spec, itersize: int, formats: Sequence[str] = FORMATS) -> Iterator[Any]:
        psycopg = self._psycopg
        params = {"client": self._client}
        try:
            inner = self._statement(spec)
            names, declared, raw_json = self._describe(inner, params)
            statement = self._projection(inner, declared, names, raw_json, formats)
            with self._conn.cursor(name=f"exporters_{spec.name}"[:60]) as cur:
                cur.itersize = itersize
                cur.execute(statement, params)
                yield _ServerEncoded(names, declared, formats)
                yield from _prefetched(lambda: cur.fetchmany(itersize))
        except psycopg.Error as exc:
            raise InputError(f"SQL source {self._display}, {spec.name}: {exc}".strip()) from exc

    def jsonl_chunks(self, spec: Spec) -> Iterator[Any]:
        """The rows' JSON text through ``COPY … TO STDOUT``, in chunks of at least 1 MiB.

        Why COPY: a cursor hands over one Python string per row, and turning a million of them
        into lines costs more than the server takes to make them. COPY sends one message per
        row, which a helper thread joins into large chunks while this one hashes and writes the
        previous chunk (memory: at most four chunks). The statement is the cursor path's own
        projection, so both write the same bytes. COPY runs inside the reader's transaction:
        same snapshot and session settings as every other table of the source.
        """
        from psycopg import sql

        psycopg = self._psycopg
        params = {"client": self._client}
        try:
            inner = self._statement(spec)
            names, declared, raw_json = self._describe(inner, params)
            select = self._projection(inner, declared, names, raw_json, ("jsonl",))
            statement = sql.SQL(_COPY_JSONL).format(select)  # type: ignore[arg-type]
            lines = 0
            with self._conn.cursor() as cur:
                with cur.copy(statement, params) as copy:
                    yield _ServerEncoded(names, declared, ("jsonl",))
                    read = copy.read

                    def fetch() -> bytes:
                        parts = []
                        size = 0
                        while size < COPY_CHUNK and (block := read()):
                            parts.append(block)
                            size += len(block)
                        return b"".join(parts)

                    # Closed explicitly so the helper thread is done before COPY is cancelled.
                    with contextlib.closing(_prefetched(fetch)) as chunks:
                        for chunk in chunks:
                            lines += chunk.count(b"\n")
                            yield chunk
                # COPY quotes a value holding a line break: refuse rather than write it.
                if cur.rowcount >= 0 and lines != cur.rowcount:
                    raise RuntimeError(
                        f"SQL source {self._display}, {spec.name}: COPY sent {cur.rowcount}"
                        f" rows in {lines} lines; a JSON value held a raw line break"
                    )
        except psycopg.Error as exc:
            raise InputError(f"SQL source {self._display}, {spec.name}: {exc}".strip()) from exc

    def _projection(
        self,
        inner: Any,
        declared: Sequence[tuple[str, str | None]],
        names: list[str],
        raw_json: bool,
        formats: Sequence[str],
    ) -> Any:
        """``SELECT`` of each row's JSON text and/or CSV line, as ``formats`` asks.

        One projection for the cursor and the COPY paths, so both write the same JSON bytes.
        ``raw_json``: some column (``json``, a composite…) is embedded verbatim by
        ``row_to_json`` and may carry whitespace newlines; JSON strings never hold raw line
        breaks, so turning them into spaces keeps the value and one row per line.
        """
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
        outputs = []
        if "jsonl" in formats:
            json_text = sql.SQL("row_to_json(j)::text")
            if raw_json:
                json_text = sql.SQL("translate({}, E'\\n\\r', '  ')").format(json_text)
            outputs.append(json_text)
        if "csv" in formats:
            outputs.append(sql.SQL("concat_ws(',', {})").format(sql.SQL(", ").join(csv_cells)))
        lateral = sql.SQL(", LATERAL (SELECT {}) j").format(sql.SQL(", ").join(json_cols))
        return sql.SQL("SELECT {outputs} FROM ({inner}) q({aliases}){lateral}").format(
            outputs=sql.SQL(", ").join(outputs),
            inner=inner,
            aliases=sql.SQL(", ").join(aliases),
            lateral=lateral if "jsonl" in formats else sql.SQL(""),
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
        # The column qualified by its table: SQLite reads an unknown bare "name" as the string
        # 'name' (its double-quoted-string fallback), so a misspelt tenant column would match
        # every row and export every tenant's data; qualified, it is an error.
        column = f'{table}."{spec.column}"'
        return f"SELECT * FROM {table} WHERE {column} = :client ORDER BY {order}"

    def rows(self, spec: Spec, itersize: int, formats: Sequence[str] = FORMATS) -> Iterator[Any]:
        try:
            cur = self._conn.execute(self._statement(spec), {"client": self._client})
            names = [c[0] for c in cur.description]
            yield _Encoder(names, [None] * len(names), formats)
            while batch := cur.fetchmany(itersize):
                yield batch
        except sqlite3.Error as exc:
            raise InputError(f"SQL source {self._display}, {spec.name}: {exc}") from exc
