"""Source URLs → source objects. The scheme picks the kind; ``#name`` names it in the bag.

Each source's payload lands under ``data/<kind>/<name>/``; the name defaults to something stable
from the URL (directory, bucket, database) and can be set with a URL fragment, e.g.
``file:///srv/app/tenants/{client}/#documents``, when two sources would otherwise collide.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from exporters.errors import InputError
from exporters.paths import safe_segment
from exporters.redact import redact_url
from exporters.sources.base import InventoryItem, Sink, Skipped, Source, Task

SCHEMES = ("file", "s3", "postgresql", "postgres", "sqlite")


def open_source(url: str, client: str, *, workers: int = 2) -> Source:
    """Parse one source URL; raises :class:`InputError` with a redacted message if unusable."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InputError(f"malformed source URL {redact_url(url)}: {exc}") from exc
    base, _sep, fragment = url.partition("#")
    name = safe_segment(unquote(fragment), what="source name") if fragment else None
    scheme = parts.scheme.lower()
    if scheme == "file":
        from exporters.sources.files import FileSource

        source: Source = FileSource(base, client, name)
    elif scheme == "s3":
        from exporters.sources.s3 import S3Source

        source = S3Source(base, client, name, workers=workers)
    elif scheme in ("postgresql", "postgres", "sqlite"):
        from exporters.sources.sql import SqlSource

        source = SqlSource(base, client, name)
    else:
        shown = scheme or "(none)"
        raise InputError(
            f"unsupported source scheme {shown!r} in {redact_url(url)}; use one of: "
            "file://, s3://, postgresql://, sqlite://"
        )
    safe_segment(source.name, what=f"source name (from {source.display}; set one with #name)")
    return source


__all__ = ["SCHEMES", "InventoryItem", "Sink", "Skipped", "Source", "Task", "open_source"]
