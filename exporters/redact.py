"""Keep credentials out of every line we print, log or raise.

Source URLs may carry secrets (``s3://KEY:SECRET@bucket``, ``postgresql://u:pw@host``,
``?password=``). We never show a source URL as given: :func:`redact_url` masks the userinfo and
secret-looking query parameters, and :class:`Redactor` scrubs any remaining occurrence of the
secret values from free text, such as the message of an exception raised by a driver.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlsplit

MASK = "***"
SECRET_PARAMS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "aws_secret_access_key",
        "secret_access_key",
        "aws_session_token",
        "session_token",
        "token",
        "sslpassword",
        "access_key",
        "aws_access_key_id",
        "access_key_id",
    }
)
# scheme://user:pass@ or scheme://user@ in free text
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


def _netloc_without_userinfo(parts: SplitResult) -> str:
    host = parts.netloc.rpartition("@")[2]
    return host


def redact_url(url: str) -> str:
    """The URL with userinfo replaced by ``***`` and secret query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{_netloc_without_userinfo(parts)}"
    query = parts.query
    if query:
        pieces = []
        for piece in query.split("&"):
            key, sep, _value = piece.partition("=")
            if sep and unquote(key).lower() in SECRET_PARAMS:
                pieces.append(f"{key}={MASK}")
            else:
                pieces.append(piece)
        query = "&".join(pieces)
    return parts._replace(netloc=netloc, query=query).geturl()


def url_secrets(url: str) -> set[str]:
    """Every secret string a URL carries, raw and decoded, to scrub from free text."""
    found: set[str] = set()
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, sep, password = userinfo.partition(":")
        # A bare user name is not a secret (and scrubbing "postgres" would mangle text), but a
        # long userinfo without a colon is usually a token.
        values = [userinfo, password] if sep else ([user] if len(user) >= 16 else [])
        for value in values:
            if value:
                found.update({value, unquote(value)})
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if key.lower() in SECRET_PARAMS and value:
            found.update({value, quote(value, safe="")})
    return {s for s in found if len(s) >= 3}


class Redactor:
    """Scrubs known secrets and any ``scheme://userinfo@`` from messages."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set(secrets)

    def add_url(self, url: str) -> None:
        self._secrets |= url_secrets(url)

    def __call__(self, text: str) -> str:
        text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text
