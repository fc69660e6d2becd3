"""Multi-row INSERTs from plain dicts, for fan-outs that write thousands of rows at once.

``Table.insert(*instances)`` builds one Piccolo instance and one nested query string per row,
which costs more than the database itself once rows are counted in thousands. This writes the
same rows (a missing column takes its column default, as ``Table(**row)`` would) with one flat
parameter list per statement, on PostgreSQL and SQLite alike (Piccolo's SQLite adapters convert
datetimes exactly as they do for ``insert``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from piccolo.table import Table

#: Rows per statement: 500 x 20 columns stays under SQLite's and asyncpg's parameter limits.
CHUNK = 500


async def insert_rows(
    table: type[Table], rows: Sequence[Mapping[str, Any]], *, chunk: int = CHUNK
) -> None:
    """INSERT ``rows`` (column name -> value) into ``table``; joins the caller's transaction."""
    if not rows:
        return
    columns = table._meta.columns
    unknown = set().union(*(row.keys() for row in rows)) - {c._meta.name for c in columns}
    if unknown:
        raise ValueError(f"unknown column(s) for {table._meta.tablename}: {sorted(unknown)}")
    names = [c._meta.name for c in columns]
    defaults = {c._meta.name: c.get_default_value() for c in columns}
    head = (
        f"INSERT INTO {table._meta.get_formatted_tablename()} "
        f"({', '.join(chr(34) + c._meta.db_column_name + chr(34) for c in columns)}) VALUES "
    )
    one = "(" + ", ".join("{}" for _ in columns) + ")"
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        values = [row.get(name, defaults[name]) for row in part for name in names]
        await table.raw(head + ", ".join(one for _ in part), *values)
