"""A client's sources reach its own data only: never another client's, never the vault's.

Found by a black-box review: ``file:///…/tenants/`` (no ``{client}``) was accepted, and certified
deletion then removed every tenant's folder under a certificate saying "verified".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gdpr_vault.evidence.tables import TrailEvent
from gdpr_vault.reversibility import isolation
from gdpr_vault.reversibility.deletion import DeletionError, delete_source
from gdpr_vault.settings import get_settings

# -- the rules, without a database ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("file:///srv/app/tenants/", "tenant-folder"),
        ("file:///", "tenant-folder"),
        ("file:///srv/app/tenant-{client}/", "tenant-folder"),
        ("file:///srv/app/{client}/../", "source-path-dots"),
        ("file:///srv/app/./{client}/", "source-path-dots"),
        ("file:///srv/app/%2E%2E/{client}/", "source-path-dots"),
        ("s3://bucket/tenants/", "tenant-folder"),
        ("s3://bucket/../{client}/", "source-path-dots"),
        ("file:///srv/app/{client}/\n", "source-characters"),
        ("file:///srv/app/{client}/%0A", "source-characters"),
        ("postgresql://db/app?table=t:tenant%1B", "source-characters"),
    ],
)
def test_sources_that_could_reach_beyond_the_client_are_refused(url, rule):
    with pytest.raises(isolation.IsolationError) as refused:
        isolation.check_structure(url)
    assert refused.value.rule == rule


@pytest.mark.parametrize(
    "url",
    [
        "file:///srv/app/tenants/{client}/",
        "file:///srv/app/tenants/{client}",
        "s3://bucket/tenants/{client}/?endpoint_url=http://127.0.0.1:9000",
        "postgresql://db/app?table=public.orders:tenant_id&sslmode=disable",
        "sqlite:///srv/app.db?table=orders:tenant_id",
    ],
)
def test_a_folder_of_the_clients_own_passes(url):
    isolation.check_structure(url)


def test_places_overlap_when_nested_or_equal_not_when_siblings():
    mine = isolation.reach("s3://b/tenants/{client}/", "acme")[0]
    assert mine.overlaps(isolation.reach("s3://b/tenants/{client}/sub", "acme")[0])
    assert not mine.overlaps(isolation.reach("s3://b/tenants/{client}/", "acme-2")[0])
    assert not mine.overlaps(isolation.reach("s3://other/tenants/{client}/", "acme")[0])
    rows = isolation.reach("postgresql://u@127.0.0.1/app?table=t:tenant_id", "acme")[0]
    assert rows.overlaps(isolation.reach("postgresql://localhost:5432/app?table=t:c", "acme")[0])
    assert not rows.overlaps(isolation.reach("postgresql://localhost/app?table=t:c", "beta")[0])
    # clients share one multi-tenant database, each with its own tenant value (the demo does)
    shared = "sqlite:///srv/app.db?table=t:tenant_id"
    assert not any(
        x.overlaps(y)
        for x in isolation.reach(shared, "acme")
        for y in isolation.reach(shared, "beta")
    )


def test_the_vaults_own_files_and_database_are_out_of_reach(tmp_path: Path):
    var = tmp_path / "var"
    (var / "keys").mkdir(parents=True)
    db_file = var / "vault.sqlite3"
    vault = isolation.vault_reaches(
        [var / "keys", db_file], "postgresql://vault@127.0.0.1:5432/vault"
    )
    for url, tenant in [
        (f"file://{var}/{{client}}/", "keys"),  # the key folder itself
        (f"file://{tmp_path}/{{client}}/", "var"),  # a folder holding the keys
        (f"sqlite://{db_file}?table=clients:id", "acme"),  # the vault's own SQLite file
        ("postgresql://localhost/vault?table=clients:id", "acme"),  # its own PostgreSQL
    ]:
        with pytest.raises(isolation.IsolationError) as refused:
            isolation.check_not_vault(url, tenant, vault)
        assert refused.value.rule == "vault-data", url
    isolation.check_not_vault(f"file://{var}/demo-app/tenants/{{client}}/", "acme", vault)
    isolation.check_not_vault("postgresql://localhost/app?table=t:c", "acme", vault)


def test_deletion_refuses_a_stored_source_without_a_client_folder(tmp_path: Path):
    tenants = tmp_path / "tenants"
    (tenants / "acme").mkdir(parents=True)
    (tenants / "other").mkdir()
    (tenants / "other" / "theirs.txt").write_text("not acme's")
    for url, tenant in [(f"file://{tenants}/", "acme"), (f"file://{tenants}/{{client}}/", "..")]:
        with pytest.raises(DeletionError, match="refusing to delete"):
            delete_source(url, url, tenant)
    assert (tenants / "other" / "theirs.txt").read_text() == "not acme's"


# -- through the API: 422 naming the field and the rule, and nothing stored ------------------


async def _sources_and_trail(api, dpo, client_id) -> tuple[list, int]:
    listed = await api.get(f"/api/v1/clients/{client_id}/reversibility/sources", headers=dpo)
    assert listed.status_code == 200, listed.text
    events = await TrailEvent.count().where(TrailEvent.action == "reversibility.sources.set")
    return listed.json(), events


async def test_the_api_refuses_sources_reaching_other_clients_or_the_vault(
    api, tokens, tmp_path: Path
):
    dpo = tokens.header(tokens.dpo)
    a, b = tokens.client_a_id, tokens.client_b_id
    tenants = tmp_path / "tenants"
    for name in ("acme", "acme/sub", "beta"):
        (tenants / name).mkdir(parents=True)
    ok = await api.put(
        f"/api/v1/clients/{a}/reversibility/sources",
        json={"tenant": "acme", "sources": [{"url": f"file://{tenants}/{{client}}/"}]},
        headers=dpo,
    )
    assert ok.status_code == 200, ok.text
    var = get_settings().var_dir
    (var / "keys").mkdir(parents=True, exist_ok=True)
    before = await _sources_and_trail(api, dpo, b)
    cases = [
        ({"sources": [{"url": f"file://{tenants}/"}]}, "sources[0].url", "tenant-folder"),
        (
            {"sources": [{"url": f"file://{tenants}/{{client}}/"}, {"url": "file:///"}]},
            "sources[1].url",
            "tenant-folder",
        ),
        (  # B inside A's folder: deleting A would delete B's data
            {"tenant": "sub", "sources": [{"url": f"file://{tenants}/acme/{{client}}/"}]},
            "sources[0].url",
            "source-overlap",
        ),
        (  # the same folder as A's
            {"tenant": "acme", "sources": [{"url": f"file://{tenants}/{{client}}/"}]},
            "sources[0].url",
            "source-overlap",
        ),
        (
            {"tenant": "keys", "sources": [{"url": f"file://{var}/{{client}}/"}]},
            "sources[0].url",
            "vault-data",
        ),
        (
            {"tenant": "..", "sources": [{"url": f"file://{tenants}/{{client}}/"}]},
            "tenant",
            "tenant-value",
        ),
        (
            {"sources": [{"url": f"file://{tenants}/../{{client}}/"}]},
            "sources[0].url",
            "source-path-dots",
        ),
    ]
    for body, field, rule in cases:
        refused = await api.put(
            f"/api/v1/clients/{b}/reversibility/sources", json=body, headers=dpo
        )
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert (problem["field"], problem["rule"]) == (field, rule), (body, problem)
        assert await _sources_and_trail(api, dpo, b) == before, body
    beta = await api.put(
        f"/api/v1/clients/{b}/reversibility/sources",
        json={"tenant": "beta", "sources": [{"url": f"file://{tenants}/{{client}}/"}]},
        headers=dpo,
    )
    assert beta.status_code == 200, beta.text


# -- second review: ways around the first checks -----------------------------------------


def test_the_tenant_is_filled_in_before_any_comparison(tmp_path: Path):
    var = tmp_path / "var"
    var.mkdir()
    vault_db = var / "gdpr-vault.sqlite3"
    vault_db.write_bytes(b"")
    vault = isolation.vault_reaches([var / "keys"], f"sqlite:///{vault_db}", vault_db)
    with pytest.raises(isolation.IsolationError) as refused:  # {client} names the vault's file
        isolation.check_not_vault(
            f"sqlite://{var}/{{client}}?table=api_token:label", "gdpr-vault.sqlite3", vault
        )
    assert refused.value.rule == "vault-data"
    linked = tmp_path / "hard-linked.sqlite3"
    os.link(vault_db, linked)  # the same file under another name
    with pytest.raises(isolation.IsolationError):
        isolation.check_not_vault(f"sqlite://{linked}?table=rev_source:client_id", "x", vault)


def test_one_database_one_table_one_tenant_whatever_the_spelling(tmp_path: Path):
    app = tmp_path / "app.sqlite3"
    app.write_bytes(b"")
    dbs = tmp_path / "dbs"
    dbs.mkdir()
    (dbs / "acme").symlink_to(app)
    os.link(app, tmp_path / "hard.sqlite3")
    others = [("cli_b", f"sqlite://{app}?table=employees:tenant_id", "acme")]
    for url in [
        f"sqlite://{app}?table=EMPLOYEES:tenant_id",
        f"sqlite://{app}?table=main.employees:tenant_id",
        f"sqlite://{dbs}/{{client}}?table=employees:tenant_id",
        f"sqlite://{tmp_path}/hard.sqlite3?table=employees:tenant_id",
    ]:
        assert isolation.find_overlap(url, "acme", others) is not None, url
    assert (
        isolation.find_overlap(f"sqlite://{app}?table=employees:tenant_id", "beta", others) is None
    )
    pg = [("cli_b", "postgresql://u@localhost/app?table=orders:tenant_id", "acme")]
    assert isolation.find_overlap(
        "postgresql://127.0.0.1:5432/app?table=public.ORDERS:t", "acme", pg
    )


def test_s3_endpoints_are_read_as_export_and_deletion_read_them():
    theirs = [("cli_z", "s3://awsbucket/tenants/{client}/", "zt")]
    minio = [("cli_y", "s3://b/tenants/{client}/?endpoint_url=http://minio:9000", "yt")]
    for url, others in [
        ("s3://awsbucket/tenants/{client}/?endpoint_url=http://x&endpoint_url=", theirs),
        ("s3://awsbucket/tenants/{client}/?endpoint_url=https://s3.amazonaws.com", theirs),
        ("s3://b/tenants/{client}/?endpoint_url=HTTP://MINIO:9000/", minio),
    ]:
        tenant = others[0][2]
        assert isolation.find_overlap(url, tenant, others) is not None, url
    other_store = "s3://b/tenants/{client}/?endpoint_url=http://elsewhere:9000"
    assert isolation.find_overlap(other_store, "yt", minio) is None


@pytest.mark.parametrize(
    "url",
    ["file:///srv/{client}/%C2%85", "file:///srv/{client}/\u0085", "file:///srv/\u2028/{client}/"],
)
def test_c1_controls_and_line_separators_are_refused(url):
    with pytest.raises(isolation.IsolationError) as refused:
        isolation.check_structure(url)
    assert refused.value.rule == "source-characters"


@pytest.mark.parametrize("tenant", ["abc\n", "..\n", "a b", ""])
def test_tenant_values_are_whole_strings(tenant):
    from gdpr_vault.reversibility.sources import SourceError, check_tenant

    with pytest.raises(SourceError):
        check_tenant(tenant)


async def test_deletion_rechecks_sources_as_they_stand(api, tokens, tmp_path: Path):
    from gdpr_vault.reversibility.service import check_sources_still_isolated, source_specs
    from gdpr_vault.reversibility.sources import SourceError

    dpo = tokens.header(tokens.dpo)
    a, b = tokens.client_a_id, tokens.client_b_id
    tenants = tmp_path / "tenants"
    (tenants / "beta").mkdir(parents=True)
    evil = tmp_path / "evil"
    (evil / "beta").mkdir(parents=True)
    for client, root in ((b, tenants), (a, evil)):
        put = await api.put(
            f"/api/v1/clients/{client}/reversibility/sources",
            json={"tenant": "beta", "sources": [{"url": f"file://{root}/{{client}}/"}]},
            headers=dpo,
        )
        assert put.status_code == 200, put.text
    specs = await source_specs(a)
    await check_sources_still_isolated(a, specs)  # two different folders so far
    (evil / "beta").rmdir()
    evil.rmdir()
    evil.symlink_to(tenants)  # now A's folder is B's
    with pytest.raises(SourceError) as refused:
        await check_sources_still_isolated(a, specs)
    assert refused.value.rule == "source-overlap"


def test_a_misspelt_sqlite_tenant_column_deletes_nothing(tmp_path: Path):
    import sqlite3

    db = tmp_path / "app.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, tenant TEXT)")
        conn.executemany("INSERT INTO orders (tenant) VALUES (?)", [("acme",), ("beta",)])
    url = f"sqlite://{db}?table=orders:zzz"
    with pytest.raises(DeletionError, match="zzz"):
        delete_source(url, url, "zzz")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 2


def test_third_review_loopback_database_files_and_postgresql_targets(tmp_path: Path):
    s3 = [("cli_a", "s3://bkt/tenants/{client}/?endpoint_url=http://127.0.0.1:5055", "acme")]
    url = "s3://bkt/tenants/{client}/?endpoint_url=http://localhost:5055"
    assert isolation.find_overlap(url, "acme", s3) is not None
    db = tmp_path / "db" / "app.sqlite3"
    db.parent.mkdir()
    db.write_bytes(b"")
    with_db = [("cli_a", f"sqlite://{db}?table=orders:tenant", "acme")]
    folder = f"file://{tmp_path}/{{client}}/"
    assert isolation.find_overlap(folder, "db", with_db) is not None  # the folder holds A's db
    assert isolation.find_overlap(with_db[0][1], "acme", [("cli_b", folder, "db")]) is not None
    assert isolation.find_overlap(with_db[0][1], "beta", with_db) is None  # a shared db is fine
    for url, rule in [
        ("postgresql://u@h/decoy?dbname=app&table=other.orders:tenant", "source-connection"),
        ("postgresql://u@h/app?options=-csearch_path%3Dother&table=s.t:c", "source-connection"),
        ("postgresql://u@h/app?table=orders:tenant", "table-schema"),
    ]:
        with pytest.raises(isolation.IsolationError) as refused:
            isolation.check_structure(url)
        assert refused.value.rule == rule, url


def test_the_database_decides_whether_two_tenant_values_are_one(tmp_path: Path):
    import sqlite3

    from gdpr_vault.reversibility.deletion import shared_rows

    db = tmp_path / "app.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, tenant TEXT COLLATE NOCASE)")
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, tenant INTEGER)")
        conn.executemany("INSERT INTO orders (tenant) VALUES (?)", [("acme",), ("beta",)])
        conn.executemany("INSERT INTO invoices (tenant) VALUES (?)", [(1,), (2,)])
    orders = f"sqlite://{db}?table=orders:tenant"
    invoices = f"sqlite://{db}?table=invoices:tenant"
    assert shared_rows(orders, "ACME", [("cli_a", orders, "acme")]) is not None
    assert shared_rows(invoices, "01", [("cli_a", invoices, "1")]) is not None
    assert shared_rows(orders, "beta", [("cli_a", orders, "acme")]) is None
    assert shared_rows(f"file://{tmp_path}/{{client}}/", "x", [("cli_a", orders, "acme")]) is None


@pytest.mark.postgres
def test_shared_rows_counts_in_postgresql_too(pg_tenant_table):
    from gdpr_vault.reversibility.deletion import shared_rows

    table, dsn = pg_tenant_table
    if table is None:
        pytest.skip(dsn)  # the reason PostgreSQL is not reachable
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {table} (tenant_id, item) VALUES ('acme', 'x'), ('beta', 'y')")
    url = f"{dsn}?table={table}:tenant_id"
    assert shared_rows(url, "beta", [("cli_a", url, "acme")]) is None
    lowered = f"{dsn}?table={table}:tenant_id&sslmode=disable"
    assert shared_rows(lowered, "ACME", [("cli_a", url, "acme")]) is None  # text compares exactly
