"""Delete one client's data from a source, then prove nothing is left (blocking I/O: run in a
worker thread).

- SQL (``table=NAME:TENANT_COLUMN``): ``DELETE … WHERE col = tenant RETURNING <primary key>`` for
  every table, in one transaction per source, in the order the tables are listed (list child
  tables before their parents when foreign keys link them);
- S3: every object **version and delete marker** under the prefix (``list_object_versions`` then
  ``delete_objects`` with ``VersionId``, 1,000 at a time); a plain DELETE on a versioned bucket
  would only add a delete marker and keep everything;
- files: the tenant folder is removed; the root must be a real directory (a symlinked root is
  refused), links inside are removed as links, never followed.

Each deletion returns counts and a SHA-256 over the sorted identifiers it removed, so the
certificate can prove *what* went without naming it. ``verify`` rescans: rows by tenant, object
versions under the prefix, the folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from exporters.redact import Redactor
from gdpr_vault.reversibility import isolation


class DeletionError(RuntimeError):
    """A source could not be deleted or verified; the message carries no credentials."""


@dataclass
class SourceResult:
    kind: str
    source: str  # redacted URL
    method: str
    rows: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    versions: int = 0
    delete_markers: int = 0
    files: int = 0
    directories: int = 0
    symlinks: int = 0
    bytes: int = 0
    inventory_sha256: str = ""
    identifiers: int = 0

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, Any]
        if self.kind == "sql":
            counts = {"rows": self.rows, "tables": self.tables}
        elif self.kind == "s3":
            counts = {
                "objects": self.objects,
                "versions": self.versions,
                "delete_markers": self.delete_markers,
                "bytes": self.bytes,
            }
        else:
            counts = {
                "files": self.files,
                "directories": self.directories,
                "symlinks": self.symlinks,
                "bytes": self.bytes,
            }
        return {
            "kind": self.kind,
            "source": self.source,
            "method": self.method,
            "counts": counts,
            "deleted_identifiers": self.identifiers,
            "inventory_sha256": self.inventory_sha256,
        }


def inventory_digest(identifiers: Iterable[str]) -> tuple[str, int]:
    """SHA-256 of the sorted identifiers, one per line (UTF-8, ``\\n`` after each)."""
    digest = hashlib.sha256()
    count = 0
    for item in sorted(identifiers):
        digest.update(item.encode("utf-8", "surrogateescape") + b"\n")
        count += 1
    return digest.hexdigest(), count


# -- SQL ----------------------------------------------------------------------------------------


def _sql_specs(url: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    tables: list[tuple[str, str]] = []
    passthrough: list[tuple[str, str]] = []
    for piece in filter(None, urlsplit(url).query.split("&")):
        key, _sep, raw = piece.partition("=")
        key, value = unquote(key), unquote(raw)
        if key == "table":
            name, _sep, column = value.partition(":")
            tables.append((name, column))
        elif key not in ("itersize", "query"):
            passthrough.append((key, value))
    return tables, passthrough


def _sqlite_path(url: str, tenant: str) -> Path:
    parts = urlsplit(url)
    raw = unquote(parts.path if parts.netloc == "" else parts.netloc + parts.path)
    return Path(raw.replace("{client}", tenant))


def _pg_conninfo(url: str, passthrough: list[tuple[str, str]]) -> str:
    parts = urlsplit(url)
    query = "&".join(f"{k}={v}" for k, v in passthrough)
    return urlunsplit(("postgresql", parts.netloc, parts.path, query, ""))


def _quote_sqlite(name: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def _sqlite_column(table: str, column: str) -> str:
    """``"table"."column"``: SQLite reads an unknown bare ``"column"`` as the string 'column'
    (its double-quoted-string fallback), so ``WHERE "typo" = 'typo'`` deleted every tenant's
    rows; qualified by its table, an unknown column is an error and nothing is deleted."""
    return f"{_quote_sqlite(table)}.{_quote_sqlite(column)}"


def _delete_sqlite(path: Path, tenant: str, tables: list[tuple[str, str]]) -> dict[str, list[str]]:
    if not path.is_file():
        return {name: [] for name, _ in tables}  # already gone: nothing left to delete
    removed: dict[str, list[str]] = {}
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for name, column in tables:
            info = conn.execute(f"PRAGMA table_info({_quote_sqlite(name)})").fetchall()
            pk = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]]
            key = ", ".join(_quote_sqlite(c) for c in pk) if pk else "rowid"
            rows = conn.execute(
                f"DELETE FROM {_quote_sqlite(name)} WHERE {_sqlite_column(name, column)} = ? "
                f"RETURNING {key}",
                (tenant,),
            ).fetchall()
            removed[name] = [f"{name}:{list(r)!r}" for r in rows]
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    return removed


def _count_sqlite(path: Path, tenant: str, tables: list[tuple[str, str]]) -> dict[str, int]:
    if not path.is_file():
        return {name: 0 for name, _ in tables}
    conn = sqlite3.connect(path)
    try:
        return {
            name: conn.execute(
                f"SELECT count(*) FROM {_quote_sqlite(name)} "
                f"WHERE {_sqlite_column(name, column)} = ?",
                (tenant,),
            ).fetchone()[0]
            for name, column in tables
        }
    finally:
        conn.close()


def _pg_primary_key(conn: Any, table: Any) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
            " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = %s::regclass AND i.indisprimary"
            " ORDER BY array_position(i.indkey::int2[], a.attnum)",
            (table.as_string(conn),),
        )
        return [row[0] for row in cur.fetchall()]


def _delete_pg(conninfo: str, tenant: str, tables: list[tuple[str, str]]) -> dict[str, list[str]]:
    import psycopg
    from psycopg import sql

    removed: dict[str, list[str]] = {}
    with psycopg.connect(conninfo, connect_timeout=10) as conn, conn.transaction():
        for name, column in tables:
            table = sql.Identifier(*name.split("."))
            pk = _pg_primary_key(conn, table)
            returning = (
                sql.SQL("row_to_json(ROW({}))::text").format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in pk)
                )
                if pk
                else sql.SQL("ctid::text")
            )
            statement = sql.SQL("DELETE FROM {} WHERE {} = %s RETURNING {}").format(
                table, sql.Identifier(column), returning
            )
            with conn.cursor() as cur:
                cur.execute(statement, (tenant,))
                removed[name] = [f"{name}:{row[0]}" for row in cur.fetchall()]
    return removed


def _count_pg(conninfo: str, tenant: str, tables: list[tuple[str, str]]) -> dict[str, int]:
    import psycopg
    from psycopg import sql

    counts = {}
    with psycopg.connect(conninfo, connect_timeout=10) as conn:
        for name, column in tables:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(
                    sql.Identifier(*name.split(".")), sql.Identifier(column)
                ),
                (tenant,),
            ).fetchone()
            counts[name] = int(row[0]) if row else 0
    return counts


def _sql(
    url: str, tenant: str
) -> tuple[list[tuple[str, str]], Callable[[], dict[str, int]], Callable[[], dict[str, list[str]]]]:
    base = url.partition("#")[0]
    tables, passthrough = _sql_specs(base)
    if urlsplit(base).scheme == "sqlite":
        path = _sqlite_path(base, tenant)
        return (
            tables,
            lambda: _count_sqlite(path, tenant, tables),
            lambda: _delete_sqlite(path, tenant, tables),
        )
    conninfo = _pg_conninfo(base, passthrough)
    return (
        tables,
        lambda: _count_pg(conninfo, tenant, tables),
        lambda: _delete_pg(conninfo, tenant, tables),
    )


def shared_rows(url: str, tenant: str, others: Iterable[tuple[str, str, str]]) -> str | None:
    """Rows this source would delete that the database also counts as another client's.

    Tenant values are compared as text before; the database compares them its own way: under
    a case-insensitive collation 'ACME' is 'acme', in an INTEGER column '01' is '1', with
    citext too. So the rows are counted in the database, as the DELETE would select them.
    ``others`` holds (client id, url, tenant) of every other client's source.
    """
    mine = isolation.table_places(url, tenant)
    if not mine:
        return None
    base = url.partition("#")[0]
    for client_id, other_url, other_tenant in others:
        for place, their_name, their_column in isolation.table_places(other_url, other_tenant):
            for my_place, name, column in mine:
                if place != my_place or other_tenant == tenant:
                    continue  # another table; an equal value was refused when set
                if _count_both(base, name, column, tenant, their_column, other_tenant):
                    return (
                        f"rows of {name} whose {column} is {tenant!r} are also client "
                        f"{client_id}'s ({their_name}.{their_column} = {other_tenant!r} there)"
                    )
    return None


def _count_both(
    url: str, table: str, column: str, tenant: str, other_column: str, other_tenant: str
) -> int:
    if urlsplit(url).scheme == "sqlite":
        path = _sqlite_path(url, tenant)
        if not path.is_file():
            return 0
        conn = sqlite3.connect(path)
        try:
            row = conn.execute(
                f"SELECT count(*) FROM {_quote_sqlite(table)} "
                f"WHERE {_sqlite_column(table, column)} = ? "
                f"AND {_sqlite_column(table, other_column)} = ?",
                (tenant, other_tenant),
            ).fetchone()
        finally:
            conn.close()
        return int(row[0]) if row else 0
    import psycopg
    from psycopg import sql

    _tables, passthrough = _sql_specs(url)
    with psycopg.connect(_pg_conninfo(url, passthrough), connect_timeout=10) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE {} = %s AND {} = %s").format(
                sql.Identifier(*table.split(".")),
                sql.Identifier(column),
                sql.Identifier(other_column),
            ),
            (tenant, other_tenant),
        ).fetchone()
    return int(row[0]) if row else 0


# -- S3 -----------------------------------------------------------------------------------------


def _s3(url: str, tenant: str) -> tuple[Any, str, str]:
    """A boto3 client, the bucket and the tenant's prefix, from the exporters' S3 URL syntax."""
    import boto3
    from botocore.config import Config

    parts = urlsplit(url.partition("#")[0])
    bucket = parts.hostname or ""
    params = {
        unquote(k): unquote(v)
        for k, _s, v in (p.partition("=") for p in parts.query.split("&") if p)
    }
    kwargs: dict[str, Any] = {"config": Config(retries={"max_attempts": 5, "mode": "standard"})}
    if params.get("endpoint_url"):
        kwargs["endpoint_url"] = params["endpoint_url"]
        kwargs["config"] = kwargs["config"].merge(Config(s3={"addressing_style": "path"}))
    if params.get("region"):
        kwargs["region_name"] = params["region"]
    if "@" in parts.netloc:
        user, _sep, password = parts.netloc.rpartition("@")[0].partition(":")
        kwargs["aws_access_key_id"] = unquote(user)
        kwargs["aws_secret_access_key"] = unquote(password)
        if params.get("session_token"):
            kwargs["aws_session_token"] = params["session_token"]
    client = boto3.session.Session().client("s3", **kwargs)
    prefix = unquote(parts.path).lstrip("/").replace("{client}", tenant)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if not prefix:
        raise DeletionError("refusing to delete a whole bucket: the S3 source names no prefix")
    if not bucket:
        raise DeletionError("the S3 source names no bucket")
    return client, bucket, prefix


def _s3_versions(client: Any, bucket: str, prefix: str) -> tuple[list[dict], list[dict]]:
    versions: list[dict] = []
    markers: list[dict] = []
    paginator = client.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        versions.extend(page.get("Versions", []))
        markers.extend(page.get("DeleteMarkers", []))
    return versions, markers


def _delete_s3(url: str, tenant: str, result: SourceResult) -> list[str]:
    client, bucket, prefix = _s3(url, tenant)
    versions, markers = _s3_versions(client, bucket, prefix)
    items = [(v["Key"], v["VersionId"]) for v in versions + markers]
    for start in range(0, len(items), 1000):
        batch = items[start : start + 1000]
        answer = client.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": k, "VersionId": v} for k, v in batch], "Quiet": True},
        )
        errors = answer.get("Errors", [])
        if errors:
            first = errors[0]
            raise DeletionError(
                f"S3 refused to delete {len(errors)} version(s), first: "
                f"{first.get('Code')} {first.get('Message')}"
            )
    result.objects = len({v["Key"] for v in versions} | {m["Key"] for m in markers})
    result.versions = len(versions)
    result.delete_markers = len(markers)
    result.bytes = sum(int(v.get("Size", 0)) for v in versions)
    return [f"s3:{k[len(prefix) :]}@{v}" for k, v in items]


def _count_s3(url: str, tenant: str) -> dict[str, int]:
    client, bucket, prefix = _s3(url, tenant)
    versions, markers = _s3_versions(client, bucket, prefix)
    return {"versions": len(versions), "delete_markers": len(markers)}


# -- files --------------------------------------------------------------------------------------


def _files_root(url: str, tenant: str) -> Path:
    parts = urlsplit(url.partition("#")[0])
    return Path(unquote(parts.path).replace("{client}", tenant))


def _delete_files(url: str, tenant: str, result: SourceResult) -> list[str]:
    root = _files_root(url, tenant)
    if not os.path.lexists(root):
        return []
    if os.path.islink(root) or not root.is_dir():
        raise DeletionError(
            "the tenant folder is a symbolic link or not a directory; refusing to delete "
            "through it (fix the source or delete by hand)"
        )
    identifiers: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                result.symlinks += 1
                identifiers.append(f"link:{rel}")
            elif stat.S_ISDIR(st.st_mode):
                result.directories += 1
            else:
                result.files += 1
                result.bytes += st.st_size
                identifiers.append(f"file:{rel}")
    # rmtree unlinks symlinks without following them and refuses a symlinked root.
    shutil.rmtree(root)
    return identifiers


# -- entry points -------------------------------------------------------------------------------


def delete_source(url: str, redacted: str, tenant: str) -> SourceResult:
    """Delete the tenant's data from one source (idempotent: a rerun finds nothing left)."""
    scheme = urlsplit(url).scheme.lower()
    redactor = Redactor()
    redactor.add_url(url)
    try:
        # Sources are checked when set; again here for any stored before that check existed.
        isolation.check_structure(url)
    except isolation.IsolationError as exc:
        raise DeletionError(f"refusing to delete: {redactor(str(exc))}") from None
    if tenant in ("", ".", ".."):
        raise DeletionError(f"refusing to delete: tenant value {tenant!r} names no folder")
    try:
        if scheme == "file":
            result = SourceResult(
                "files", redacted, "logical delete (files unlinked, folder removed)"
            )
            identifiers = _delete_files(url, tenant, result)
        elif scheme == "s3":
            result = SourceResult(
                "s3", redacted, "logical delete (every object version and delete marker)"
            )
            identifiers = _delete_s3(url, tenant, result)
        else:
            result = SourceResult("sql", redacted, "logical delete (DELETE by tenant, committed)")
            _tables, _count, delete = _sql(url, tenant)
            removed = delete()
            result.tables = {name: len(ids) for name, ids in removed.items()}
            result.rows = sum(result.tables.values())
            identifiers = [i for ids in removed.values() for i in ids]
    except DeletionError:
        raise
    except Exception as exc:
        raise DeletionError(redactor(f"{redacted}: {type(exc).__name__}: {exc}")) from None
    result.inventory_sha256, result.identifiers = inventory_digest(identifiers)
    return result


def verify_source(url: str, redacted: str, tenant: str) -> dict[str, Any]:
    """Rescan the source: what is left for the tenant (all zeros / absent when deleted)."""
    scheme = urlsplit(url).scheme.lower()
    redactor = Redactor()
    redactor.add_url(url)
    try:
        if scheme == "file":
            root = _files_root(url, tenant)
            present = os.path.lexists(root)
            return {
                "source": redacted,
                "method": "folder rescanned: must be absent",
                "left": {"folder_present": present},
                "ok": not present,
            }
        if scheme == "s3":
            left = _count_s3(url, tenant)
            return {
                "source": redacted,
                "method": "list_object_versions under the prefix: must be empty",
                "left": left,
                "ok": not any(left.values()),
            }
        _tables, count, _delete = _sql(url, tenant)
        left = count()
        return {
            "source": redacted,
            "method": "SELECT count(*) by tenant per table: must be 0",
            "left": left,
            "ok": not any(left.values()),
        }
    except Exception as exc:
        raise DeletionError(redactor(f"{redacted}: verification failed: {exc}")) from None
