"""Rows of a PostgreSQL or SQLite database, per client, as JSON Lines + CSV + datapackage.json.

URL syntax (see docs/exporters.md)::

    postgresql://user:pw@host:5432/db?table=orders:tenant_id&table=customers:client_id
        &query=invoices:SELECT * FROM invoices WHERE client = :client#crm
    sqlite:///srv/app/{client}.db?table=orders:tenant_id

``table=NAME:TENANT_COLUMN`` exports ``SELECT * FROM NAME WHERE TENANT_COLUMN = <client>``
(ordered by the primary key so reruns are identical); ``query=NAME:SQL`` runs a SELECT that must
contain the ``:client`` placeholder, so no query can silently export every tenant. All tables of
one source are read in one read-only REPEATABLE READ transaction (one snapshot), through a
server-side cursor fetched ``itersize`` rows at a time, never ``fetchall``. Each row is written
once into each requested file while it is hashed.

``formats=jsonl,csv`` (the default) picks the files written per table. PostgreSQL with
``formats=jsonl`` alone streams the server's ``row_to_json`` text through ``COPY … TO STDOUT``
instead of a cursor: no per-row work on our side, which keeps a million rows within 3× a plain
``COPY`` of the same rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from exporters.errors import InputError
from exporters.journal import Record
from exporters.redact import redact_url
from exporters.sources.base import InventoryItem, Sink, payload_root
from exporters.sources.sql_encoding import _Encoder, _ServerEncoded
from exporters.sources.sql_readers import _JsonlStreamer, _PostgresReader, _Reader, _SqliteReader
from exporters.sources.sql_spec import CSV_DIALECT, Spec, SqlOptions, parse_formats, parse_specs

__all__ = ["SqlOptions", "SqlSource", "parse_formats", "parse_specs"]


class SqlTask:
    """All tables of one SQL source, read in a single snapshot, then its datapackage.json."""

    def __init__(self, source: SqlSource) -> None:
        self._source = source
        self.label = source.display
        self.size_hint = 0

    def run(self, sink: Sink) -> None:
        source = self._source
        records: list[tuple[Spec, dict[str, Record]]] = []
        pending = []
        for spec in source.specs:
            identity = source.identity(spec)
            done = {
                ext: sink.completed(source.output_path(spec, ext), identity)
                for ext in source.formats
            }
            finished = {ext: record for ext, record in done.items() if record is not None}
            if len(finished) == len(done):  # every requested file of this table is journaled
                for record in finished.values():
                    sink.reuse(record)
                records.append((spec, finished))
            else:
                pending.append(spec)
        if pending:
            with source.reader() as reader:
                for spec in pending:
                    records.append((spec, self._export(sink, reader, spec)))
        self._write_datapackage(sink, sorted(records, key=lambda r: r[0].name))

    def _export(self, sink: Sink, reader: _Reader, spec: Spec) -> dict[str, Record]:
        source = self._source
        if source.formats == ("jsonl",) and isinstance(reader, _JsonlStreamer):
            return self._export_streamed(sink, reader, spec)
        identity = source.identity(spec)
        paths = {ext: source.output_path(spec, ext) for ext in source.formats}
        outs = {ext: sink.open(path) for ext, path in paths.items()}
        json_out, csv_out = outs.get("jsonl"), outs.get("csv")
        try:
            encoder: _Encoder | _ServerEncoded | None = None
            with contextlib.closing(reader.rows(spec, source.itersize, source.formats)) as rows:
                for batch_or_header in rows:
                    if encoder is None:
                        encoder = batch_or_header
                        if csv_out is not None:
                            csv_out.write(encoder.header())
                        continue
                    jsonl, csv_bytes = encoder.encode(batch_or_header)
                    if json_out is not None:
                        json_out.write(jsonl)
                    if csv_out is not None:
                        csv_out.write(csv_bytes)
        except BaseException:
            for out in outs.values():
                out.abort()
            raise
        assert encoder is not None
        meta = {"rows": encoder.rows, "fields": encoder.fields()}
        return {ext: sink.commit(outs[ext], path, identity, meta) for ext, path in paths.items()}

    def _export_streamed(self, sink: Sink, reader: _JsonlStreamer, spec: Spec) -> dict[str, Record]:
        """JSON Lines only, from chunks of whole lines the reader already joined (COPY).

        Rows are counted with ``bytes.count``, exact without looking at any row in Python: a
        JSON line holds no raw newline (``json`` whitespace ones become spaces in the
        projection, and the reader checks the count against the rows COPY reports).
        """
        source = self._source
        path = source.output_path(spec, "jsonl")
        out = sink.open(path)
        rows = 0
        try:
            with contextlib.closing(reader.jsonl_chunks(spec)) as chunks:
                header = next(chunks)
                assert isinstance(header, _ServerEncoded)
                for chunk in chunks:
                    rows += chunk.count(b"\n")
                    out.write(chunk)
        except BaseException:
            out.abort()
            raise
        meta = {"rows": rows, "fields": header.fields()}
        return {"jsonl": sink.commit(out, path, source.identity(spec), meta)}

    def _write_datapackage(self, sink: Sink, records: list[tuple[Spec, dict[str, Record]]]) -> None:
        resources = []
        for spec, by_format in records:
            base = _resource_name(spec.name)
            any_record = next(iter(by_format.values()))
            schema = {"fields": any_record.meta["fields"]}
            csv_record = by_format.get("csv")
            json_record = by_format.get("jsonl")
            if csv_record is not None:
                resources.append(
                    {
                        "profile": "tabular-data-resource",
                        "name": base,
                        "path": f"{spec.name}.csv",
                        "format": "csv",
                        "mediatype": "text/csv",
                        "encoding": "utf-8",
                        "dialect": CSV_DIALECT,
                        "bytes": csv_record.size,
                        "hash": f"sha256:{csv_record.sha256}",
                        "schema": schema,
                        "description": f"{csv_record.meta['rows']} rows",
                    }
                )
            if json_record is not None:
                same = f"same rows as {spec.name}.csv " if csv_record is not None else ""
                resources.append(
                    {
                        "profile": "data-resource",
                        "name": f"{base}-jsonl",
                        "path": f"{spec.name}.jsonl",
                        "format": "jsonl",
                        "mediatype": "application/jsonl",
                        "encoding": "utf-8",
                        "bytes": json_record.size,
                        "hash": f"sha256:{json_record.sha256}",
                        "schema": schema,
                        "description": (
                            f"{json_record.meta['rows']} rows, one JSON object per line; {same}"
                            "(instants in UTC ISO 8601, bytes in base64)"
                        ),
                    }
                )
        package = {
            "profile": "data-package",
            "name": _resource_name(self._source.name),
            "title": f"SQL export of {self._source.display}",
            "resources": resources,
        }
        data = (json.dumps(package, indent=2, ensure_ascii=False) + "\n").encode()
        path = f"{self._source.root_path}/datapackage.json"
        identity = "datapackage:" + hashlib.sha256(data).hexdigest()
        record = sink.completed(path, identity)
        if record is not None:
            sink.reuse(record)
            return
        writer = sink.open(path)
        writer.write(data)
        sink.commit(writer, path, identity)


def _resource_name(name: str) -> str:
    """Frictionless names are lower-case ``[-a-z0-9._/]``."""
    return re.sub(r"[^-a-z0-9._]", "-", name.lower()) or "table"


class SqlSource:
    kind = "sql"

    def __init__(self, url: str, client: str, name: str | None = None) -> None:
        self.display = redact_url(url)
        parts = urlsplit(url)
        self._client = client
        self.specs, self.itersize, self.formats, passthrough = parse_specs(
            parts.query, self.display
        )
        self._redacted_base = self.display.split("?", 1)[0]
        self._open: Callable[[], _Reader]
        if parts.scheme == "sqlite":
            raw = unquote(parts.path if parts.netloc == "" else parts.netloc + parts.path)
            if "{client}" in raw and not client:
                raise InputError(f"SQL source {self.display} needs --client")
            path = Path(raw.replace("{client}", client))
            if not path.is_file():
                raise InputError(f"SQL source {self.display}: database file {path} does not exist")
            self.name = name or path.stem
            self._open = lambda: _SqliteReader(path, client, self.display)
        else:
            query = "&".join(f"{k}={v}" for k, v in passthrough)
            conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, query, ""))
            self.name = name or (unquote(parts.path).strip("/") or "postgres")
            self._open = lambda: _PostgresReader(conninfo, client, self.display)
        self.root_path = payload_root(self.kind, self.name)

    def identity(self, spec: Spec) -> str:
        """Resume key of a table's files: a rerun asking for other formats re-reads the table.

        The formats are part of it because a table's files are one unit, read in one snapshot
        and counted together: a rerun with another list re-reads the table instead of pairing a
        file journaled by the earlier run with files of a new snapshot.
        """
        formats = ",".join(self.formats)
        text = f"{self._redacted_base}|{self._client}|{spec.fingerprint()}|{formats}"
        return "sql:" + hashlib.sha256(text.encode()).hexdigest()

    def output_path(self, spec: Spec, ext: str) -> str:
        return f"{self.root_path}/{spec.name}.{ext}"

    def reader(self) -> _Reader:
        return self._open()

    def tasks(self, sink: Sink) -> Iterator[SqlTask]:
        yield SqlTask(self)

    def scan(self) -> tuple[int, int]:
        return len(self.formats) * len(self.specs) + 1, 0

    def inventory(self) -> Iterator[InventoryItem]:
        """Row counts per table for this client (a deletion check expects zeros)."""
        with self.reader() as reader:
            for spec in self.specs:
                count = 0
                for item in reader.rows(spec, self.itersize):
                    if isinstance(item, list):
                        count += len(item)
                yield InventoryItem(self.display, spec.name, None, self.identity(spec), rows=count)
