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
from gdpr_vault.reversibility import isolation

_TENANT = re.compile(r"^[A-Za-z0-9._-]{1,200}\Z")
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
    # '.' and '..' match the alphabet but, put in a path, name the folder above the client's.
    if not _TENANT.match(tenant) or tenant in (".", ".."):
        raise SourceError(
            "tenant must be 1-200 letters, digits, '.', '_' or '-', and not '.' or '..'",
            "tenant",
            "tenant-value",
        )


def check_isolated(
    url: str,
    tenant: str,
    vault: Sequence[isolation.Reach],
    others: Sequence[tuple[str, str, str]],
) -> None:
    """Refuse a source reaching beyond this client's data (see :mod:`isolation`)."""
    try:
        isolation.check_structure(url)
        isolation.check_not_vault(url, tenant, vault)
        shared = isolation.find_overlap(url, tenant, others)
    except isolation.IsolationError as exc:
        raise SourceError(str(exc), "sources", exc.rule) from None
    except InputError as exc:  # the exporters' own parser refused it
        raise SourceError(str(exc), "sources", "source-url") from None
    if shared is not None:
        other_client, place = shared
        raise SourceError(
            f"{redact_url(url)} reaches {place.describe()}, which client {other_client}'s "
            "sources reach too: deleting one client's data would delete the other's",
            "sources",
            "source-overlap",
        )


def validate(
    urls: Sequence[str],
    tenant: str,
    vault: Sequence[isolation.Reach] = (),
    others: Sequence[tuple[str, str, str]] = (),
) -> list[str]:
    """Check every URL with the exporters' own parser; returns the redacted forms.

    Each source must reach this client's data only (:mod:`isolation`): not the ``vault``'s own
    files or database, not what ``others`` reach ((client id, url, tenant) of every other
    client's stored source). Blocking: the parser looks at local paths.
    """
    check_tenant(tenant)
    redactor = Redactor()
    for url in urls:
        redactor.add_url(url)
    for index, url in enumerate(urls):
        field = f"sources[{index}].url"
        kind = kind_of(url)
        try:
            check_isolated(url, tenant, vault, others)
        except SourceError as exc:
            raise SourceError(redactor(str(exc)), field, exc.rule) from None
        if kind == "sql":
            query = urlsplit(url.partition("#")[0]).query
            keys = [unquote(p.partition("=")[0]) for p in query.split("&") if p]
            if "query" in keys:
                raise SourceError(
                    f"{redact_url(url)}: certified deletion needs table=NAME:TENANT_COLUMN, "
                    "not query= (a query cannot be deleted by tenant)",
                    field,
                    "deletable-source",
                )
    try:
        open_sources(list(urls), tenant)
    except InputError as exc:
        raise SourceError(redactor(str(exc)), "sources", "source-url") from None
    return [redact_url(url) for url in urls]
