"""Objects under an S3 prefix: ``s3://bucket/prefix/{client}/`` (current versions only).

Why current versions only: the export returns the client's data as it stands; older versions and
delete markers are history the deletion phase deals with. The listing's ETag is the identity the
resume journal compares, and each GET is pinned to it with ``If-Match`` so an object overwritten
between listing and download fails loudly instead of being mixed up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from exporters.errors import InputError
from exporters.paths import safe_relative
from exporters.redact import redact_url
from exporters.s3util import parse_s3_url
from exporters.sources.base import InventoryItem, Sink, Skipped, payload_root
from exporters.streaming import copy_read


class S3Task:
    def __init__(self, source: S3Source, key: str, rel: str, size: int, etag: str) -> None:
        self.label = rel
        self.size_hint = size
        self._source = source
        self._key = key
        self._etag = etag
        self._path = f"{source.root_path}/{rel}"
        self._identity = f"s3:{etag}:{size}"

    def run(self, sink: Sink) -> None:
        record = sink.completed(self._path, self._identity)
        if record is not None:
            sink.reuse(record)
            return
        answer = self._source.client.get_object(
            Bucket=self._source.bucket, Key=self._key, IfMatch=self._etag
        )
        body = answer["Body"]
        writer = sink.open(self._path)
        try:
            copy_read(body.read, writer)
        except BaseException:
            writer.abort()
            raise
        finally:
            body.close()
        meta = {"etag": self._etag}
        if answer.get("VersionId"):
            meta["version_id"] = answer["VersionId"]
        sink.commit(writer, self._path, self._identity, meta)


class S3Source:
    kind = "s3"

    def __init__(self, url: str, client: str, name: str | None = None, workers: int = 2) -> None:
        self.display = redact_url(url)
        loc = parse_s3_url(url, what="S3 source")
        if "{client}" in loc.prefix and not client:
            raise InputError(f"S3 source {self.display} needs --client")
        prefix = loc.prefix.replace("{client}", client)
        # "tenants/acme" must not also match "tenants/acme-corp/": always a folder-like prefix.
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.bucket = loc.bucket
        self.endpoint_url = loc.endpoint_url
        self.name = name or loc.bucket
        self.root_path = payload_root(self.kind, self.name)
        self.client: Any = loc.client(max_connections=workers + 4)

    def _list(self, report: Sink | None) -> Iterator[tuple[str, str, int, str]]:
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    rel = key[len(self.prefix) :]
                    if rel.endswith("/"):
                        if item["Size"] and report is not None:
                            report.skip(Skipped(self.display, rel, "folder marker with content"))
                        continue
                    safe_relative(rel, origin=f"S3 source {self.display}")
                    yield key, rel, int(item["Size"]), item["ETag"]
        except (ClientError, BotoCoreError) as exc:
            raise InputError(f"S3 source {self.display}: {exc}") from exc

    def tasks(self, sink: Sink) -> Iterator[S3Task]:
        for key, rel, size, etag in self._list(sink):
            yield S3Task(self, key, rel, size, etag)

    def scan(self) -> tuple[int, int]:
        count = total = 0
        for _key, _rel, size, _etag in self._list(None):
            count += 1
            total += size
        return count, total

    def inventory(self) -> Iterator[InventoryItem]:
        for _key, rel, size, etag in self._list(None):
            yield InventoryItem(self.display, rel, size, f"s3:{etag}:{size}")
