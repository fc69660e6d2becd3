"""One place that turns an ``s3://`` URL into a bucket, a key prefix and a boto3 client.

Both the S3 source and the S3 destination accept the same URL form, so an operator learns it
once: ``s3://[ACCESS_KEY:SECRET_KEY@]bucket/prefix/?endpoint_url=http://host:9000&region=eu-west-3``.
Credentials in the userinfo win over the environment; otherwise boto3's usual chain applies
(``AWS_ACCESS_KEY_ID``…, profiles, instance roles), and ``AWS_ENDPOINT_URL`` is honoured by
boto3 itself when the URL names no endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from exporters.errors import InputError
from exporters.redact import redact_url

_KNOWN_PARAMS = frozenset({"endpoint_url", "region", "session_token", "part_size"})


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str | None
    access_key: str | None = field(repr=False, default=None)
    secret_key: str | None = field(repr=False, default=None)
    session_token: str | None = field(repr=False, default=None)
    params: dict[str, str] = field(default_factory=dict)

    def client(self, max_connections: int = 10) -> Any:
        """A thread-safe boto3 client; boto3 is imported lazily so file-only runs skip it."""
        import boto3
        from botocore.config import Config

        kwargs: dict[str, Any] = {
            "config": Config(
                max_pool_connections=max_connections,
                retries={"max_attempts": 5, "mode": "standard"},
                s3={"addressing_style": "path"} if self.endpoint_url else {},
            )
        }
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        if self.region:
            kwargs["region_name"] = self.region
        if self.access_key and self.secret_key:
            kwargs["aws_access_key_id"] = self.access_key
            kwargs["aws_secret_access_key"] = self.secret_key
            if self.session_token:
                kwargs["aws_session_token"] = self.session_token
        return boto3.session.Session().client("s3", **kwargs)


def parse_s3_url(url: str, *, what: str) -> S3Location:
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise InputError(f"{what} {redact_url(url)} is not an s3:// URL")
    bucket = parts.hostname or ""
    if not bucket:
        raise InputError(f"{what} {redact_url(url)} names no bucket")
    access_key = secret_key = None
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, sep, password = userinfo.partition(":")
        if not sep or not user or not password:
            raise InputError(f"{what} {redact_url(url)}: userinfo must be ACCESS_KEY:SECRET_KEY")
        access_key, secret_key = unquote(user), unquote(password)
    params: dict[str, str] = {}
    for piece in filter(None, parts.query.split("&")):
        key, _sep, value = piece.partition("=")
        key = unquote(key)
        if key not in _KNOWN_PARAMS:
            raise InputError(
                f"{what} {redact_url(url)}: unknown parameter {key!r} "
                f"(known: {', '.join(sorted(_KNOWN_PARAMS))})"
            )
        params[key] = unquote(value)
    prefix = unquote(parts.path).lstrip("/")
    return S3Location(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=params.get("endpoint_url") or None,
        region=params.get("region") or None,
        access_key=access_key,
        secret_key=secret_key,
        session_token=params.get("session_token") or None,
        params=params,
    )
