"""Bulk reads and writes for fan-outs that touch thousands of rows at once.

Piccolo builds one nested query string per row for ``Table.insert(*instances)`` and checks every
value of an ``is_in(list)`` one by one; with rows counted in thousands that Python work costs
far more than the database does (measured: two thirds of a 10,000-client publication). So:

- :func:`insert_rows` hands plain tuples to the driver the caller's transaction already holds:
  ``executemany`` on SQLite (one prepared statement; Piccolo's global SQLite adapters convert
  datetimes exactly as they do for ``insert``) and ``COPY`` on PostgreSQL (asyncpg's
  ``copy_records_to_table``, with the same type codecs as its queries). Outside a transaction
  it falls back to multi-row ``INSERT`` statements through Piccolo.
- :func:`where_in` is ``column IN (...)`` with the whole list as **one** JSON parameter, expanded
  by the database (``json_each`` / ``json_array_elements_text``): no per-value work in Python,
  no parameter-count limit, and the query still goes through Piccolo, so rows come back with
  the usual type conversions.
- :func:`analyze_after_bulk` runs ``ANALYZE`` at the end of a large fan-out's transaction
  (the usual advice after a bulk load; see its docstring for the plan it prevents).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from itertools import chain
from operator import itemgetter
from typing import Any

import asyncpg
from piccolo.columns import Column
from piccolo.columns.column_types import JSON, JSONB
from piccolo.columns.combination import WhereRaw
from piccolo.columns.defaults.base import Default
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

#: Rows per statement on the fallback path: 500 x 20 columns stays under parameter limits.
CHUNK = 500
#: Rows after which an insert refreshes the table's planner statistics (PostgreSQL).
ANALYZE_AFTER = 2000
#: How long a fan-out's ANALYZE may wait for a VACUUM on its table before it is skipped.
ANALYZE_LOCK_TIMEOUT = "1s"


def _is_postgres(table: type[Table]) -> bool:
    return isinstance(table._meta.db, PostgresEngine)


def where_in(column: Column, values: Sequence[str]) -> WhereRaw:
    """``column IN values`` for text keys, as a single JSON-array parameter.

    Not ``= ANY($1::text[])`` on PostgreSQL: a parameter array is searched linearly for every
    row (only constant arrays are hashed), measured 20-30 ms for 500 keys over 5,000 rows
    against under 1 ms for the JSON semi-join.
    """
    name = f'"{column._meta.table._meta.tablename}"."{column._meta.db_column_name}"'
    data = json.dumps(list(values))
    if _is_postgres(column._meta.table):
        return WhereRaw(f"{name} IN (SELECT json_array_elements_text({{}}::json))", data)
    return WhereRaw(f"{name} IN (SELECT value FROM json_each({{}}))", data)


def _filler(column: Column) -> Callable[[], Any]:
    """What a row without this column gets, computed per row as ``Table(**row)`` does: a
    callable default or a Piccolo ``Default`` (``TimestamptzNow``…) is called for each row."""
    default = getattr(column, "default", None)
    if isinstance(default, Default):
        return default.python
    if callable(default):
        return default
    value = default.value if isinstance(default, Enum) else default
    return lambda: value


def _sql_value(value: Any, json_column: bool) -> Any:
    """The conversions Piccolo applies to inserted values: enums to their value, and Python
    structures to JSON text in JSON columns."""
    if isinstance(value, Enum):
        return value.value
    if json_column and value is not None and not isinstance(value, str):
        return json.dumps(value)
    return value


def _records(
    columns: Sequence[Column], names: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    """Each row as a tuple in column order, converted as :func:`_sql_value` converts.

    Rows that name every column (the usual fan-out) are picked by one ``itemgetter`` and only
    the values that need it are converted: the generic path below cost 15 µs a row of 12
    columns, most of a 10,000-row publication's Python time."""
    json_columns = {i for i, c in enumerate(columns) if isinstance(c, JSON | JSONB)}
    keys = set(names)
    if len(names) > 1 and all(row.keys() == keys for row in rows):
        pick = itemgetter(*names)
        records = [pick(row) for row in rows]
        types = set(map(type, chain.from_iterable(records)))  # in C: 1 ms, not 8, a 1,000-row batch
        if json_columns or any(issubclass(t, Enum) for t in types):
            records = [
                tuple(_sql_value(v, i in json_columns) for i, v in enumerate(record))
                for record in records
            ]
        return records
    fill = [_filler(c) for c in columns]
    return [
        tuple(
            _sql_value(row[name], i in json_columns) if name in row else fill[i]()
            for i, name in enumerate(names)
        )
        for row in rows
    ]


async def analyze_after_bulk(table: type[Table], rows: int) -> None:
    """Refresh the planner's statistics of ``table`` after a bulk insert of ``rows`` rows
    (PostgreSQL; call it inside the inserting transaction, right after the insert).

    With the statistics of an empty table, the planner took 10,000 fresh rows for 14 and joined
    them to the JSON keys of :func:`where_in` by re-expanding the keys for every row: 190 ms a
    query instead of 1 ms, until autovacuum got round to the table. Inside the transaction,
    ``ANALYZE`` samples the transaction's own new rows and its statistics commit with them, so
    the jobs the transaction enqueues plan with them from their first query (run after the
    commit, it raced those jobs: their first batch took 1.6 s instead of 0.2 s).

    Call it before the transaction takes other locks (the trail's): ``ANALYZE`` waits for a
    running ``VACUUM`` or ``CREATE INDEX CONCURRENTLY`` on the table. It waits at most
    :data:`ANALYZE_LOCK_TIMEOUT`, in a savepoint, and is skipped if the table stays busy:
    fresh statistics are an optimisation, the fan-out is not.
    """
    if rows < ANALYZE_AFTER or not _is_postgres(table):
        return
    transaction = table._meta.db.current_transaction.get()
    if transaction is None:
        await table.raw(f'ANALYZE "{table._meta.tablename}"')
        return
    connection = transaction.connection
    previous = await connection.fetchval("SELECT current_setting('lock_timeout')")
    savepoint = await transaction.savepoint()
    try:
        await connection.execute(f"SET LOCAL lock_timeout = '{ANALYZE_LOCK_TIMEOUT}'")
        await connection.execute(f'ANALYZE "{table._meta.tablename}"')
    except asyncpg.exceptions.LockNotAvailableError:
        await savepoint.rollback_to()  # which also undoes the SET LOCAL
    else:
        await savepoint.release()
        await connection.execute("SELECT set_config('lock_timeout', $1, true)", previous)


async def sqlite_execute_many(
    table: type[Table], sql: str, params: Sequence[tuple[Any, ...]]
) -> int:
    """One SQLite statement (``?`` placeholders) run for each parameter tuple, prepared once,
    on the caller's transaction connection; returns how many rows it changed in all.

    For updates by primary key: a ``CASE`` over 500 ids made SQLite compare each row with
    every id (12 ms a fan-out batch); 500 primary-key updates take a few."""
    transaction = table._meta.db.current_transaction.get()
    if transaction is None:
        raise RuntimeError("sqlite_execute_many runs inside db.transaction()")
    cursor = await transaction.connection.executemany(sql, params)
    return int(cursor.rowcount)


async def insert_rows(
    table: type[Table], rows: Sequence[Mapping[str, Any]], *, chunk: int = CHUNK
) -> None:
    """INSERT ``rows`` (column name -> value) into ``table``; joins the caller's transaction.

    A column missing from a row takes its column default, computed per row as ``Table(**row)``
    would, and values are converted as Piccolo converts them (enums, JSON columns).
    """
    if not rows:
        return
    columns = table._meta.columns
    names = [c._meta.name for c in columns]
    unknown = set().union(*(row.keys() for row in rows)) - set(names)
    if unknown:
        raise ValueError(f"unknown column(s) for {table._meta.tablename}: {sorted(unknown)}")
    records = _records(columns, names, rows)
    db_names = [c._meta.db_column_name for c in columns]
    transaction = table._meta.db.current_transaction.get()
    if transaction is not None:
        connection = transaction.connection
        if _is_postgres(table):
            await connection.copy_records_to_table(
                table._meta.tablename, records=records, columns=db_names
            )
        else:
            marks = ", ".join("?" for _ in columns)
            quoted = ", ".join(f'"{n}"' for n in db_names)
            await connection.executemany(
                f'INSERT INTO "{table._meta.tablename}" ({quoted}) VALUES ({marks})', records
            )
        return
    head = (
        f"INSERT INTO {table._meta.get_formatted_tablename()} "
        f"({', '.join(chr(34) + n + chr(34) for n in db_names)}) VALUES "
    )
    one = "(" + ", ".join("{}" for _ in columns) + ")"
    for start in range(0, len(records), chunk):
        part = records[start : start + chunk]
        await table.raw(head + ", ".join(one for _ in part), *[v for r in part for v in r])
