"""SQL sources: one tenant's rows only, JSON Lines + CSV + a Frictionless datapackage.json."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest

from exporters import InputError, pack, verify_bag
from exporters.sources import open_source
from exporters.sources.sql import parse_specs
from tests.exporters.conftest import PG_DSN, bagit_valid, sha256sum_check

FRICTIONLESS_TYPES = {
    "string", "number", "integer", "boolean", "object", "array", "date", "time",
    "datetime", "year", "yearmonth", "duration", "geopoint", "geojson", "any",
}  # fmt: skip
NAME = re.compile(r"^[-a-z0-9._/]+$")


def check_datapackage(folder: Path) -> dict:
    """Structural Data Package v1 checks: names, types, files present, hashes and sizes right."""
    package = json.loads((folder / "datapackage.json").read_text())
    assert NAME.match(package["name"])
    assert package["resources"]
    for resource in package["resources"]:
        assert NAME.match(resource["name"])
        data = (folder / resource["path"]).read_bytes()
        assert resource["bytes"] == len(data)
        assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
        for field in resource["schema"]["fields"]:
            assert field["type"] in FRICTIONLESS_TYPES, field
        if resource["profile"] == "tabular-data-resource":
            header = next(csv.reader(io.StringIO(data.decode())))
            assert header == [f["name"] for f in resource["schema"]["fields"]]
    return package


def read_outputs(folder: Path, table: str) -> tuple[list[dict], list[dict]]:
    lines = (folder / f"{table}.jsonl").read_text().splitlines()
    jsonl = [json.loads(line) for line in lines]
    text = (folder / f"{table}.csv").read_bytes().decode()
    return jsonl, list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.postgres
def test_postgres_exports_one_tenant(pg, pg_table, tmp_path):
    pg.execute(
        f"""CREATE TABLE "{pg_table}" (
            id serial PRIMARY KEY, tenant_id text NOT NULL, amount numeric(12, 2),
            note text, created timestamptz, paid boolean, data jsonb, tags text[], blob bytea)"""
    )
    rows = [
        ("acme", "12.50", 'héllo, "world"', True, '{"a": 1}', ["x", "y"], b"\x00\xff"),
        ("acme", None, "multi\nline", False, None, None, None),
        ("globex", "99.00", "other tenant", True, None, None, None),
    ] + [("acme", str(i), f"row {i}", i % 2 == 0, None, None, None) for i in range(30)]
    with pg.cursor() as cur:
        cur.executemany(
            f'INSERT INTO "{pg_table}" (tenant_id, amount, note, created, paid, data, tags, blob)'
            " VALUES (%s, %s, %s, '2026-03-28 22:30+01', %s, %s, %s, %s)",
            rows,
        )
    url = (
        f"{PG_DSN}?table={pg_table}:tenant_id&itersize=7"
        f"&query=totals:SELECT tenant_id, sum(amount) AS total, count(*)::int AS n"
        f" FROM {pg_table} WHERE tenant_id = :client AND note NOT LIKE '%25zzz%25'"
        " GROUP BY tenant_id#crm"
    )
    out = tmp_path / "bag"
    result = pack([url], str(out), client="acme")
    folder = out / "data" / "sql" / "crm"
    assert {m.path for m in result.manifest} == {
        f"data/sql/crm/{pg_table}.jsonl",
        f"data/sql/crm/{pg_table}.csv",
        "data/sql/crm/totals.jsonl",
        "data/sql/crm/totals.csv",
        "data/sql/crm/datapackage.json",
    }
    jsonl, csv_rows = read_outputs(folder, pg_table)
    assert len(jsonl) == len(csv_rows) == 32
    assert {r["tenant_id"] for r in jsonl} == {"acme"} == {r["tenant_id"] for r in csv_rows}
    assert [r["id"] for r in jsonl] == sorted(r["id"] for r in jsonl)  # primary-key order
    first = jsonl[0]
    raw_first = (folder / f"{pg_table}.jsonl").read_text().splitlines()[0]
    assert '"amount":12.50,' in raw_first  # numeric keeps its exact digits, as a JSON number
    assert first["paid"] is True and first["data"] == {"a": 1}
    assert first["tags"] == ["x", "y"] and first["blob"] == "AP8="
    assert first["created"] == "2026-03-28T21:30:00+00:00"
    assert jsonl[1]["note"] == "multi\nline" and csv_rows[1]["note"] == "multi\nline"
    assert csv_rows[0]["paid"] == "true" and json.loads(csv_rows[0]["data"]) == {"a": 1}
    assert csv_rows[0]["tags"] == '["x","y"]'
    totals, _ = read_outputs(folder, "totals")
    assert totals == [{"tenant_id": "acme", "total": sum(range(30)) + 12.5, "n": 32}]

    package = check_datapackage(folder)
    fields = {f["name"]: f for f in package["resources"][0]["schema"]["fields"]}
    assert fields["id"]["type"] == "integer" and fields["amount"]["type"] == "number"
    assert fields["paid"]["type"] == "boolean" and fields["created"]["type"] == "datetime"
    assert fields["tags"]["type"] == "array" and fields["blob"]["format"] == "binary"
    assert package["resources"][0]["description"] == "32 rows"
    assert bagit_valid(out) and sha256sum_check(out).returncode == 0 and verify_bag(out).ok


@pytest.mark.postgres
def test_postgres_errors_are_input_errors(pg, pg_table, tmp_path):
    pg.execute(f'CREATE TABLE "{pg_table}" (id int, tenant_id text)')
    with pytest.raises(InputError, match="nope"):
        pack([f"{PG_DSN}?table={pg_table}:nope"], str(tmp_path / "bag"), client="acme")


def test_sqlite_exports_one_tenant(tmp_path):
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, tenant TEXT, qty, label TEXT)")
        conn.executemany(
            "INSERT INTO orders (tenant, qty, label) VALUES (?, ?, ?)",
            [
                ("acme", 1, "un"),
                ("acme", 2.5, "deux, trois"),
                ("other", 9, "x"),
                ("acme", None, "é"),
            ],
        )
        conn.execute("CREATE TABLE notes (tenant TEXT, body BLOB)")
        conn.execute("INSERT INTO notes VALUES ('acme', x'0102'), ('other', x'03')")
    conn.close()
    query = "blobs:SELECT body FROM notes WHERE tenant = :client"
    url = f"sqlite://{db}?table=orders:tenant&query={query}"
    out = tmp_path / "bag"
    pack([url], str(out), client="acme")
    folder = out / "data" / "sql" / "app"
    jsonl, csv_rows = read_outputs(folder, "orders")
    assert [r["label"] for r in jsonl] == ["un", "deux, trois", "é"]
    assert [r["qty"] for r in csv_rows] == ["1", "2.5", ""]
    blobs, blob_csv = read_outputs(folder, "blobs")
    assert blobs == [{"body": "AQI="}] and blob_csv == [{"body": "AQI="}]
    package = check_datapackage(folder)
    orders = next(r for r in package["resources"] if r["name"] == "orders")
    fields = {f["name"]: f["type"] for f in orders["schema"]["fields"]}
    assert fields == {"id": "integer", "tenant": "string", "qty": "number", "label": "string"}
    assert bagit_valid(out) and verify_bag(out).ok


def test_sql_spec_syntax_errors():
    with pytest.raises(InputError, match="NAME:TENANT_COLUMN"):
        parse_specs("table=orders", "x")
    with pytest.raises(InputError, match="NAME:TENANT_COLUMN"):
        parse_specs("table=orders;drop:x", "x")
    with pytest.raises(InputError, match=":client placeholder"):
        parse_specs("query=all:SELECT * FROM orders", "x")
    with pytest.raises(InputError, match="no table"):
        parse_specs("sslmode=disable", "x")
    with pytest.raises(InputError, match="used twice"):
        parse_specs("table=a:t&query=a:SELECT 1 WHERE 1 = :client", "x")
    specs, itersize, formats, rest = parse_specs("table=s.a:t&itersize=10&sslmode=disable", "x")
    assert specs[0].table == "s.a" and itersize == 10 and rest == [("sslmode", "disable")]
    assert formats == ("jsonl", "csv")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("jsonl", ("jsonl",)), ("csv", ("csv",)), ("csv,jsonl", ("jsonl", "csv"))],
)
def test_formats_parameter(value, expected):
    assert parse_specs(f"table=a:t&formats={value}", "x").formats == expected


@pytest.mark.parametrize("value", ["", "json", "jsonl,parquet", "jsonl,", ",", "JSONL"])
def test_formats_parameter_errors(value):
    with pytest.raises(InputError, match=r"^SQL source x: formats=.* must be jsonl, csv") as info:
        parse_specs(f"table=a:t&formats={value}", "x")
    assert "\n" not in str(info.value)


def test_missing_sqlite_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_source(f"sqlite://{tmp_path}/nope.db?table=a:b", "acme")


def test_a_misspelt_sqlite_tenant_column_is_an_error_not_every_row(tmp_path):
    # SQLite reads an unknown bare "column" as a string: WHERE "tenantt" = 'tenantt' matched
    # every row, so every tenant's data went into one client's export.
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, tenant TEXT)")
        conn.executemany("INSERT INTO orders (tenant) VALUES (?)", [("acme",), ("beta",)])
    with pytest.raises(InputError, match="tenantt"):
        pack([f"sqlite:///{db}?table=orders:tenantt"], str(tmp_path / "bag"), client="tenantt")
