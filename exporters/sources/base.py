"""What every source gives the packer: named units of work that write payload files.

A source enumerates *tasks* lazily (a file, an S3 object, a whole SQL database) so a tree of a
million files never sits in memory as a list. A task writes through the :class:`Sink` the packer
hands it, which owns hashing, atomic commits, the resume journal and progress; a task only knows
how to read its own kind of data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from exporters.journal import Record
from exporters.streaming import HashingWriter


@dataclass(frozen=True)
class Skipped:
    """An item deliberately left out, with the reason shown to the operator."""

    source: str
    name: str
    reason: str


@dataclass(frozen=True)
class InventoryItem:
    """One item a source holds for the client: what a deletion check must later find gone."""

    source: str
    name: str
    size: int | None
    identity: str
    rows: int | None = None


class Sink(Protocol):
    def completed(self, path: str, identity: str) -> Record | None: ...

    def reuse(self, record: Record) -> None: ...

    def open(self, path: str) -> HashingWriter: ...

    def commit(
        self, writer: HashingWriter, path: str, identity: str, meta: dict[str, Any] | None = None
    ) -> Record: ...

    def skip(self, item: Skipped) -> None: ...


class Task(Protocol):
    label: str
    size_hint: int

    def run(self, sink: Sink) -> None: ...


class Source(Protocol):
    kind: str
    name: str
    display: str

    def tasks(self, sink: Sink) -> Iterator[Task]: ...

    def scan(self) -> tuple[int, int]:
        """(files, bytes) expected, for progress; 0 where unknown before reading."""
        ...

    def inventory(self) -> Iterator[InventoryItem]: ...


def payload_root(kind: str, name: str) -> str:
    return f"data/{kind}/{name}"
