"""Where a client's data lives: source URLs sealed under the master key, shown only redacted.

The URL syntax is the exporters' (docs/exporters.md). Certified deletion must be able to delete
what it exported, so SQL sources name tables (``table=NAME:TENANT_COLUMN``); a ``query=`` source
could be exported but never deleted by tenant, and is refused here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from exporters import InputError, open_sources
from exporters.redact import Redactor, redact_url
from gdpr_vault.crypto import master

_TENANT = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
KINDS = {"file": "files", "s3": "s3", "postgresql": "sql", "postgres": "sql", "sqlite": "sql"}


class SourceError(ValueError):
    def __init__(self, message: str, field: str, rule: str) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule


@dataclass(frozen=True)
class SourceSpec:
    """A source ready to use: the full URL (secret), its redacted form and the tenant value."""

    id: str
    url: str
    redacted: str
    kind: str
    tenant: str

    def __repr__(self) -> str:  # the URL may hold credentials: never in a repr or a log
        return f"SourceSpec({self.id}, {self.redacted})"


def _aad(client_id: str, source_id: str) -> bytes:
    return f"gdpr-vault source url|{client_id}|{source_id}".encode()


def seal_url(client_id: str, source_id: str, url: str) -> str:
    return master.seal(url.encode(), _aad(client_id, source_id))


def unseal_url(client_id: str, source_id: str, sealed: str) -> str:
    return master.unseal(sealed, _aad(client_id, source_id)).decode()


def kind_of(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in KINDS:
        raise SourceError(
            f"unsupported source scheme {scheme or '(none)'!r} in {redact_url(url)}; "
            "use file://, s3://, postgresql:// or sqlite://",
            "sources",
            "source-scheme",
        )
    return KINDS[scheme]


def check_tenant(tenant: str) -> None:
    if not _TENANT.match(tenant):
        raise SourceError(
            "tenant must be 1-200 letters, digits, '.', '_' or '-'", "tenant", "tenant-value"
        )


def validate(urls: Sequence[str], tenant: str) -> list[str]:
    """Check every URL with the exporters' own parser; returns the redacted forms.

    Blocking: the parser looks at local paths (file and SQLite sources must exist).
    """
    check_tenant(tenant)
    redactor = Redactor()
    for url in urls:
        redactor.add_url(url)
    for index, url in enumerate(urls):
        kind = kind_of(url)
        if kind == "sql":
            query = urlsplit(url.partition("#")[0]).query
            keys = [unquote(p.partition("=")[0]) for p in query.split("&") if p]
            if "query" in keys:
                raise SourceError(
                    f"{redact_url(url)}: certified deletion needs table=NAME:TENANT_COLUMN, "
                    "not query= (a query cannot be deleted by tenant)",
                    f"sources[{index}].url",
                    "deletable-source",
                )
    try:
        open_sources(list(urls), tenant)
    except InputError as exc:
        raise SourceError(redactor(str(exc)), "sources", "source-url") from None
    return [redact_url(url) for url in urls]
