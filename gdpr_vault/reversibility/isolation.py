"""What a client's source may reach: its own data, never another client's, never the vault's.

Why this matters more than anywhere else: certified deletion deletes what a source names, the
whole folder, every object version under the prefix, every row with the tenant value. A source
``file:///srv/app/tenants/`` (no ``{client}``) once exported a client and then deleted every
tenant's folder, and the certificate said "verified". So a file or S3 source must give the client
a folder of its own, written ``{client}`` as a whole path segment; no ``.`` or ``..`` segment may
move it elsewhere; no control character may hide in it; and what it reaches, once the tenant
value is filled in, must not overlap the vault's own files or database, nor another client's
source. The same structural check runs again just before deletion, for sources stored earlier.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from exporters.redact import redact_url
from exporters.s3util import parse_s3_url

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
PLACEHOLDER = "{client}"


class IsolationError(ValueError):
    """A source that could reach beyond its client's data; ``rule`` is the problem's rule."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class Reach:
    """One place a source reads and deletes: a folder, an S3 prefix or a table's tenant rows.

    ``endpoint`` (S3 only): ``None`` when the URL names none, and then boto3 picks one from the
    environment, which may be anyone's: it is taken to be the same store as any other.
    """

    kind: str  # "path" (a folder), "file" (a database file), "s3", "rows" or "database"
    where: tuple[str, ...]  # the store: () for paths; (bucket,); (database..., table)
    what: str  # the folder or prefix (nested ones overlap), or the tenant value (equal ones do)
    endpoint: str | None = None

    def overlaps(self, other: Reach) -> bool:
        kinds = {self.kind, other.kind}
        if kinds == {"path", "file"}:  # a database file inside a folder a source deletes
            file, folder = (self, other) if self.kind == "file" else (other, self)
            return _nested(file.what, folder.what)
        if (self.kind, self.where) != (other.kind, other.where) or kinds == {"file"}:
            return False  # clients may share one database file: their rows are compared
        named = None not in (self.endpoint, other.endpoint)
        if self.kind == "s3" and named and self.endpoint != other.endpoint:
            return False
        if self.kind == "rows":
            return self.what == other.what
        return _nested(self.what, other.what) or _nested(other.what, self.what)

    def describe(self) -> str:
        if self.kind in ("path", "file"):
            return self.what
        if self.kind == "s3":
            return f"s3://{self.where[0]}/{self.what}"
        if self.kind == "database":
            return "its database"
        return f"table {self.where[-1]} rows of tenant {self.what!r}"


def _nested(inner: str, outer: str) -> bool:
    """Whether ``inner`` is ``outer`` or lies under it (both '/'-separated, no trailing '/')."""
    return inner == outer or inner.startswith(outer.rstrip("/") + "/") or outer == ""


def _scheme(url: str) -> str:
    return urlsplit(url).scheme.lower()


def check_structure(url: str) -> None:
    """Refuse control characters anywhere, and file/S3 paths without a folder of the client's."""
    shown = redact_url(url)
    if _CONTROL.search(url) or _CONTROL.search(unquote(url)):
        raise IsolationError(f"{shown}: control characters are not allowed", "source-characters")
    if _scheme(url) in ("postgresql", "postgres"):
        _check_postgresql(url, shown)
    if _scheme(url) not in ("file", "s3"):
        return
    segments = unquote(urlsplit(url.partition("#")[0]).path).split("/")
    if any(segment in (".", "..") for segment in segments):
        raise IsolationError(
            f"{shown}: '.' and '..' are not allowed in the path", "source-path-dots"
        )
    if PLACEHOLDER not in segments:
        raise IsolationError(
            f"{shown}: the path must give the client a folder of its own, written {PLACEHOLDER} "
            f"(e.g. file:///srv/app/tenants/{PLACEHOLDER}/ or s3://bucket/tenants/"
            f"{PLACEHOLDER}/): certified deletion deletes that whole folder",
            "tenant-folder",
        )


# Connection parameters that would choose another server, database, role or search path than
# the URL's own host, port, path and user, which are what the checks compare.
_RETARGETING = frozenset({"host", "hostaddr", "port", "dbname", "user", "service", "options"})


def _check_postgresql(url: str, shown: str) -> None:
    params = parse_qsl(urlsplit(url.partition("#")[0]).query, keep_blank_values=True)
    for key, value in params:
        if key in _RETARGETING:
            raise IsolationError(
                f"{shown}: the parameter {key!r} would connect elsewhere than the URL says; "
                "put the host, port, database and user in the URL itself",
                "source-connection",
            )
        if key == "table" and "." not in value.partition(":")[0]:
            raise IsolationError(
                f"{shown}: table {value.partition(':')[0]!r} must name its schema "
                "(schema.table): the server's search path would decide otherwise",
                "table-schema",
            )


def _real(path: str) -> str:
    """The path with symbolic links resolved (as far as it exists), without a trailing '/'."""
    return os.path.realpath(path).rstrip("/") or "/"


def _file_identity(path: str) -> str:
    """A file by device and inode when it exists (a hard link is the same file), else by path."""
    try:
        st = os.stat(path)
    except OSError:
        return _real(path)
    return f"inode:{st.st_dev}:{st.st_ino}"


def _endpoint(url: str | None) -> str | None:
    """An S3 endpoint in one spelling: scheme and host lower-cased, default port, no final '/'."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme)
    host = (parts.hostname or "").lower()
    host = "localhost" if host in _LOCAL_HOSTS else host  # one machine, three spellings
    return f"{scheme}://{host}:{port}{parts.path.rstrip('/')}"


def _sqlite_file(url: str, tenant: str) -> str:
    parts = urlsplit(url.partition("#")[0])
    raw = unquote(parts.path if parts.netloc == "" else parts.netloc + parts.path)
    return raw.replace(PLACEHOLDER, tenant)


def _database(url: str, tenant: str) -> tuple[str, ...]:
    """A comparable identity for a SQL source's database (local host names are one host)."""
    parts = urlsplit(url.partition("#")[0])
    if parts.scheme.lower() == "sqlite":
        return ("sqlite", _file_identity(_sqlite_file(url, tenant)))
    host = (parts.hostname or "").lower()
    host = "localhost" if host in _LOCAL_HOSTS else host
    user = unquote(parts.username or "")
    name = unquote(parts.path.lstrip("/")).replace(PLACEHOLDER, tenant) or user
    return ("postgresql", host, str(parts.port or 5432), name)


def _table(database: tuple[str, ...], name: str) -> str:
    """One spelling per table: SQLite ignores case and names its own schema 'main';
    PostgreSQL folds unquoted names to lower case and looks in 'public' first."""
    name = name.lower()
    if database[0] == "sqlite":
        return name.removeprefix("main.")
    return name if "." in name else f"public.{name}"


def reach(url: str, tenant: str) -> list[Reach]:
    """Where ``url`` reads and deletes for ``tenant`` (its placeholder filled in everywhere)."""
    scheme = _scheme(url)
    parts = urlsplit(url.partition("#")[0])
    if scheme == "file":
        folder = unquote(parts.path).replace(PLACEHOLDER, tenant)
        return [Reach("path", (), _real(folder))]
    if scheme == "s3":
        # The exporters' own parser, so this check reads the URL exactly as export and
        # deletion do (a repeated or blank parameter cannot mean one thing here, another there).
        location = parse_s3_url(url.partition("#")[0], what="S3 source")
        prefix = location.prefix.replace(PLACEHOLDER, tenant).strip("/")
        return [Reach("s3", (location.bucket,), prefix, _endpoint(location.endpoint_url))]
    database = _database(url, tenant)
    tables = [v.partition(":")[0] for k, v in parse_qsl(parts.query) if k == "table"]
    reaches = [Reach("rows", (*database, _table(database, t)), tenant) for t in tables]
    if scheme == "sqlite":
        reaches.append(Reach("file", (), _real(_sqlite_file(url, tenant))))
    return reaches


def table_places(url: str, tenant: str) -> list[tuple[tuple[str, ...], str, str]]:
    """(place, table, tenant column) for each ``table=`` of a SQL source, places as in
    :func:`reach` (database identity and the table as the database reads its name)."""
    if _scheme(url) not in ("sqlite", "postgresql", "postgres"):
        return []
    database = _database(url, tenant)
    query = urlsplit(url.partition("#")[0]).query
    pairs = [v.partition(":") for k, v in parse_qsl(query) if k == "table"]
    return [((*database, _table(database, name)), name, column) for name, _s, column in pairs]


def _whole_database(url: str, tenant: str) -> list[Reach]:
    """A SQL source's database as a whole: clients may share one, the vault's own is refused."""
    if _scheme(url) not in ("sqlite", "postgresql", "postgres"):
        return []
    return [Reach("database", _database(url, tenant), "")]


def vault_reaches(
    protected_paths: Iterable[Path], database_url: str, sqlite_file: Path | None = None
) -> list[Reach]:
    """The vault's own data: its keys, exports, certificates and its database."""
    reaches = [Reach("path", (), _real(str(path))) for path in protected_paths]
    if sqlite_file is not None:
        reaches.append(Reach("path", (), _real(str(sqlite_file))))  # the file, as a folder would
        reaches.append(Reach("database", ("sqlite", _file_identity(str(sqlite_file))), ""))
    if _scheme(database_url) in ("postgresql", "postgres"):
        reaches.append(Reach("database", _database(database_url, ""), ""))
    return reaches


def check_not_vault(url: str, tenant: str, vault: Sequence[Reach]) -> None:
    """Refuse a source that reaches the vault's own files, or its own PostgreSQL database."""
    shown = redact_url(url)
    mine = reach(url, tenant) + _whole_database(url, tenant)
    for theirs in vault:
        for place in mine:
            if place.overlaps(theirs):
                raise IsolationError(
                    f"{shown}: it reaches the vault's own data ({theirs.describe()}); "
                    "a client source must name the client's application data only",
                    "vault-data",
                )


def find_overlap(
    url: str, tenant: str, others: Iterable[tuple[str, str, str]]
) -> tuple[str, Reach] | None:
    """The first other client's place that ``url`` shares, as (client id, place), if any.

    ``others`` holds (client id, url, tenant) of every other client's stored source.
    """
    mine = reach(url, tenant)
    for client_id, other_url, other_tenant in others:
        for theirs in reach(other_url, other_tenant):
            if any(place.overlaps(theirs) for place in mine):
                return client_id, theirs
    return None
