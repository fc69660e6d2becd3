"""The resume journal: what is already safely in the destination, and from which source state.

Why: an export that dies at 90 % of 500 GB must not start over. Each finished payload file gets one
line ``{path, size, sha256, identity, meta}``, appended only after the file itself is durable
under its final name. Durability is batched by the packer: it syncs a batch of committed files
(one ``syncfs``), then appends their lines, then fsyncs the journal once (:meth:`Journal.sync`).
A rerun with the same arguments reads the journal and skips any file whose source identity
(mtime+size, ETag+version, query fingerprint) is unchanged and whose copy is still there with the
right size. The first line is a header holding a fingerprint of the arguments and the creation time,
so the resumed bag carries the same Bagging-Date and is byte-identical in its tag files to an
uninterrupted run. The journal lives beside the payload and is deleted once the bag is complete, so
it is never part of the bag.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from exporters.destinations import Destination
from exporters.errors import InputError

JOURNAL_VERSION = 1
# One encoder for every line: ``json.dumps`` with options builds a new (pure-Python) encoder per
# call, which made journaling a batch of small files cost more than copying them.
_encode_line = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


@dataclass(frozen=True)
class Record:
    """A payload file known to be complete in the destination."""

    path: str
    size: int
    sha256: str
    identity: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        data = {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "identity": self.identity,
            "meta": self.meta,
        }
        return _encode_line(data).encode() + b"\n"


class Journal:
    """Thread-safe view of the destination's journal."""

    def __init__(self, destination: Destination, fingerprint: str, created: datetime) -> None:
        self._destination = destination
        self._lock = threading.Lock()
        self.fingerprint = fingerprint
        self.created = created
        self.records: dict[str, Record] = {}

    @classmethod
    def start(cls, destination: Destination, fingerprint: str, created: datetime) -> Journal:
        journal = cls(destination, fingerprint, created)
        header = {"journal": JOURNAL_VERSION, "fingerprint": fingerprint}
        header["created"] = created.astimezone(UTC).isoformat()
        line = json.dumps(header, sort_keys=True).encode() + b"\n"
        destination.journal_append("", line)
        return journal

    @classmethod
    def resume(cls, destination: Destination, fingerprint: str) -> Journal:
        lines = destination.journal_lines()
        if not lines:
            raise InputError(f"{destination.describe()}: the resume journal is empty")
        try:
            header = json.loads(lines[0])
            created = datetime.fromisoformat(header["created"])
            found = header["fingerprint"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{destination.describe()}: unreadable resume journal") from exc
        if found != fingerprint:
            raise InputError(
                f"{destination.describe()} holds an unfinished export made with other arguments; "
                "rerun with the same sources and options, or choose another --out"
            )
        journal = cls(destination, fingerprint, created)
        for number, raw in enumerate(lines[1:], start=2):
            try:
                data = json.loads(raw)
                record = Record(
                    path=data["path"],
                    size=int(data["size"]),
                    sha256=data["sha256"],
                    identity=data["identity"],
                    meta=data.get("meta") or {},
                )
            except (ValueError, KeyError, TypeError):
                if number == len(lines):
                    continue  # a line torn by a crash: the file it describes is simply redone
                raise InputError(
                    f"{destination.describe()}: resume journal line {number} is corrupt"
                ) from None
            journal.records[record.path] = record
        return journal

    def completed(self, path: str, identity: str) -> Record | None:
        """The record for ``path`` if it can be reused as is, else ``None``."""
        with self._lock:
            record = self.records.get(path)
        if record is None or record.identity != identity:
            return None
        if self._destination.size_of(path) != record.size:
            return None
        return record

    def append(self, record: Record) -> None:
        """Append one line. The caller has made the file durable; call :meth:`sync` after."""
        line = record.to_json()
        with self._lock:
            self._destination.journal_append(record.path, line)
            self.records[record.path] = record

    def sync(self) -> None:
        """Make the lines appended so far durable (fsync; a no-op when the destination is not)."""
        with self._lock:
            self._destination.journal_sync()
