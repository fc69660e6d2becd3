"""SQL ``formats=``: only the files asked for, and PostgreSQL JSON Lines through COPY.

The COPY path must write the very bytes the cursor path writes for the same rows, keep one
snapshot for every table of the source, count rows exactly, and never hold a whole result.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from exporters import pack, verify_bag
from exporters.journal import Record
from exporters.sources import open_source
from exporters.sources import sql_readers as sqlmod
from exporters.sources.sql import SqlSource
from exporters.streaming import HashingWriter
from tests.exporters.conftest import PG_DSN, bagit_valid
from tests.exporters.test_sql import check_datapackage

# Values that stress JSON text: quotes, backslashes, control characters, non-ASCII, NULLs,
# exact numerics, float specials, instants, bytes, json with newlines in its whitespace, arrays.
AWKWARD_ROWS = [
    (
        'say "hi" \\ back\\slash',
        "multi\nline\r\nand\ttab",
        "12.50",
        0.1,
        '{"a": [1,\n 2], "k": "v\\n"}',
        '{"b": null}',
        ["x", 'y"z', None],
        b"\x00\xff\n",
    ),
    ("é – ñ 漢字 😀", None, None, float("nan"), None, None, None, None),
    ("", "\\N", "-0.000001", float("inf"), "[]", "[1, 2.50]", [], b""),
] + [
    (f"row {i}", f"n°{i}", str(i), i / 3, f'{{"i": {i}}}', None, [str(i)], bytes([i]))
    for i in range(40)
]


class _Memory:
    """A RawWriter keeping its bytes in memory, for a sink without a destination."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: memoryview | bytes) -> None:
        self.data += data

    def commit(self) -> None:
        return None

    def abort(self) -> None:
        self.data.clear()


class MemorySink:
    """Just enough of the packer's Sink to watch what a task reuses and rewrites."""

    def __init__(self, journal: dict[str, Record] | None = None) -> None:
        self.journal: dict[str, Record] = dict(journal or {})
        self.files: dict[str, bytes] = {}
        self.reused: list[str] = []
        self.written: list[str] = []

    def completed(self, path: str, identity: str) -> Record | None:
        record = self.journal.get(path)
        return record if record is not None and record.identity == identity else None

    def reuse(self, record: Record) -> None:
        self.reused.append(record.path)

    def open(self, path: str) -> HashingWriter:
        return HashingWriter(_Memory())

    def commit(
        self, writer: HashingWriter, path: str, identity: str, meta: dict[str, Any] | None = None
    ) -> Record:
        record = Record(path, writer.size, writer.sha256, identity, meta or {})
        self.journal[path] = record
        self.files[path] = bytes(writer._raw.data)  # type: ignore[attr-defined]
        self.written.append(path)
        return record

    def skip(self, item: object) -> None:
        raise AssertionError(item)


def _run(source: SqlSource, journal: dict[str, Record] | None = None) -> MemorySink:
    sink = MemorySink(journal)
    for task in source.tasks(sink):
        task.run(sink)
    return sink


def _sqlite_db(tmp_path: Path) -> Path:
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, tenant TEXT, qty, label TEXT)")
        conn.executemany(
            "INSERT INTO orders (tenant, qty, label) VALUES (?, ?, ?)",
            [("acme", 1, "un"), ("acme", 2.5, 'deux, "trois"\n'), ("other", 9, "x")],
        )
    conn.close()
    return db


def _source(url: str) -> SqlSource:
    source = open_source(url, "acme")
    assert isinstance(source, SqlSource)
    return source


def test_sqlite_formats_write_only_what_is_asked(tmp_path):
    db = _sqlite_db(tmp_path)
    base = f"sqlite://{db}?table=orders:tenant"
    both = _run(_source(base))
    root = "data/sql/app"
    for formats, expected in (("jsonl", ["orders.jsonl"]), ("csv", ["orders.csv"])):
        sink = _run(_source(f"{base}&formats={formats}"))
        assert sorted(sink.files) == sorted(
            [f"{root}/{name}" for name in expected] + [f"{root}/datapackage.json"]
        )
        for name in expected:  # the same bytes as when both files are written
            assert sink.files[f"{root}/{name}"] == both.files[f"{root}/{name}"]
        package = json.loads(sink.files[f"{root}/datapackage.json"])
        assert [r["path"] for r in package["resources"]] == expected
        assert package["resources"][0]["schema"]["fields"][2] == {"name": "qty", "type": "number"}
        assert package["resources"][0]["description"].startswith("2 rows")
        assert "same rows as" not in package["resources"][0]["description"]
        assert sink.journal[f"{root}/{expected[0]}"].meta["rows"] == 2
    assert _source(base).scan() == (3, 0) and _source(f"{base}&formats=csv").scan() == (2, 0)


def test_resume_identity_includes_formats(tmp_path):
    db = _sqlite_db(tmp_path)
    base = f"sqlite://{db}?table=orders:tenant"
    first = _run(_source(base))
    again = _run(_source(base), first.journal)  # same formats: nothing re-read
    assert sorted(again.reused) == sorted(first.written) and again.written == []

    jsonl_only = _source(f"{base}&formats=jsonl")
    spec = jsonl_only.specs[0]
    assert jsonl_only.identity(spec) != _source(base).identity(spec)
    assert _source(f"{base}&formats=csv,jsonl").identity(spec) == _source(base).identity(spec)
    rerun = _run(jsonl_only, first.journal)  # other formats: the table is read again
    assert rerun.reused == []
    assert rerun.written == ["data/sql/app/orders.jsonl", "data/sql/app/datapackage.json"]

    # A journal holding only some of the requested files re-reads the table.
    partial = {k: v for k, v in first.journal.items() if not k.endswith(".csv")}
    redo = _run(_source(base), partial)
    assert "data/sql/app/orders.jsonl" in redo.written and "data/sql/app/orders.csv" in redo.written


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture
def awkward_table(pg, pg_table) -> str:
    pg.execute(
        f"""CREATE TABLE "{pg_table}" (
            id serial PRIMARY KEY, tenant_id text NOT NULL, label text, note text,
            amount numeric(14, 6), ratio float8, doc json, docb jsonb, tags text[], blob bytea,
            created timestamptz DEFAULT '2026-03-28 22:30:00.123456+01', day date DEFAULT
            '2026-02-28', span interval DEFAULT '1 day 02:03:04.5', ref uuid DEFAULT
            'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', flag boolean DEFAULT true)"""
    )
    with pg.cursor() as cur:
        cur.executemany(
            f'INSERT INTO "{pg_table}" (tenant_id, label, note, amount, ratio, doc, docb, tags,'
            " blob) VALUES ('acme', %s, %s, %s, %s, %s, %s, %s, %s)",
            AWKWARD_ROWS,
        )
        cur.execute(f"INSERT INTO \"{pg_table}\" (tenant_id, label) VALUES ('globex', 'no')")
    return pg_table


def _pg_url(table: str, extra: str = "") -> str:
    safe = f"safe:SELECT id, label, note, amount, created FROM {table} WHERE tenant_id = :client"
    record = (
        f"rec:SELECT id, ROW(doc, label) AS pair FROM {table} WHERE tenant_id = :client ORDER BY id"
    )
    return f"{PG_DSN}?table={table}:tenant_id&query={safe} ORDER BY id&query={record}{extra}#crm"


@pytest.mark.postgres
def test_postgres_jsonl_only_is_byte_identical(awkward_table, tmp_path, monkeypatch):
    monkeypatch.setattr(sqlmod, "COPY_CHUNK", 300)  # many chunks, each of several COPY rows
    both_out, jsonl_out = tmp_path / "both", tmp_path / "jsonl"
    pack([_pg_url(awkward_table, "&itersize=7")], str(both_out), client="acme")
    result = pack([_pg_url(awkward_table, "&formats=jsonl")], str(jsonl_out), client="acme")
    both, only = both_out / "data/sql/crm", jsonl_out / "data/sql/crm"
    names = (awkward_table, "safe", "rec")
    assert {m.path for m in result.manifest} == {
        *(f"data/sql/crm/{n}.jsonl" for n in names),
        "data/sql/crm/datapackage.json",
    }
    for name in names:
        data = (only / f"{name}.jsonl").read_bytes()
        assert data == (both / f"{name}.jsonl").read_bytes(), name
        lines = data.split(b"\n")
        assert lines.pop() == b"" and len(lines) == len(AWKWARD_ROWS)
        rows = [json.loads(line) for line in lines]  # one whole JSON object per line
        assert all(b"\r" not in line and b"\x01" not in line for line in lines)
        assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    text = (only / f"{awkward_table}.jsonl").read_text()
    rows = [json.loads(line) for line in text.split("\n")[:-1]]
    assert rows[0]["label"] == 'say "hi" \\ back\\slash'
    assert rows[0]["note"] == "multi\nline\r\nand\ttab"
    assert rows[0]["doc"] == {"a": [1, 2], "k": "v\n"} and rows[0]["docb"] == {"b": None}
    assert rows[0]["tags"] == ["x", 'y"z', None] and rows[0]["blob"] == "AP8K"
    assert rows[0]["created"] == "2026-03-28T21:30:00.123456+00:00"
    assert rows[1]["label"] == "é – ñ 漢字 😀" and rows[1]["note"] is None
    assert rows[1]["ratio"] == "NaN" and rows[2]["note"] == "\\N"
    assert (
        rows[0]["amount"] == 12.5
        and '"amount":12.500000,' in (only / f"{awkward_table}.jsonl").read_text().split("\n")[0]
    )

    package = check_datapackage(only)
    full = check_datapackage(both)
    assert [r["path"] for r in package["resources"]] == [f"{n}.jsonl" for n in sorted(names)]
    for resource in package["resources"]:
        twin = next(r for r in full["resources"] if r["path"] == resource["path"])
        assert resource["schema"] == twin["schema"] and resource["name"] == twin["name"]
        assert resource["hash"] == twin["hash"]
        assert resource["description"].startswith(f"{len(AWKWARD_ROWS)} rows, one JSON object")
    assert bagit_valid(jsonl_out) and verify_bag(jsonl_out).ok


@pytest.mark.postgres
def test_postgres_csv_only_matches_default(awkward_table, tmp_path):
    both_out, csv_out = tmp_path / "both", tmp_path / "csv"
    pack([_pg_url(awkward_table)], str(both_out), client="acme")
    result = pack([_pg_url(awkward_table, "&formats=csv")], str(csv_out), client="acme")
    assert sorted(m.path for m in result.manifest if m.path.endswith(".jsonl")) == []
    for name in (awkward_table, "safe", "rec"):
        assert (csv_out / f"data/sql/crm/{name}.csv").read_bytes() == (
            both_out / f"data/sql/crm/{name}.csv"
        ).read_bytes()
    check_datapackage(csv_out / "data/sql/crm")


@pytest.mark.postgres
def test_postgres_copy_shares_the_snapshot_and_stops_cleanly(pg, awkward_table, monkeypatch):
    monkeypatch.setattr(sqlmod, "COPY_CHUNK", 200)
    source = _source(f"{PG_DSN}?table={awkward_table}:tenant_id&formats=jsonl")
    spec = source.specs[0]
    with source.reader() as reader:
        chunks = reader.jsonl_chunks(spec)
        header = next(chunks)
        first = next(chunks)
        chunks.close()  # abandoned mid-COPY: the connection must stay usable
        assert first.endswith(b"\n") and len(first) < 200 + 400
        assert [f["name"] for f in header.fields()][:3] == ["id", "tenant_id", "label"]
        pg.execute(f"INSERT INTO \"{awkward_table}\" (tenant_id, label) VALUES ('acme', 'late')")
        data = b"".join(list(reader.jsonl_chunks(spec))[1:])
        assert data.count(b"\n") == len(AWKWARD_ROWS)  # the row inserted since is not seen
        assert b"late" not in data


@pytest.mark.postgres
def test_postgres_copy_refuses_a_line_break_it_did_not_expect(awkward_table, tmp_path, monkeypatch):
    # Were a json value's newline not translated, COPY would quote the line: fail, never write it.
    monkeypatch.setattr(sqlmod, "_RAW_JSON_TYPES", frozenset())
    with pytest.raises(RuntimeError, match="raw line break"):
        pack(
            [f"{PG_DSN}?table={awkward_table}:tenant_id&formats=jsonl"],
            str(tmp_path / "bag"),
            client="acme",
        )
