"""Copy bytes once, hashing exactly the chunks we write.

Why: a reversibility export can be hundreds of gigabytes. Reading every byte once, hashing the very
buffer that is written, and reusing one fixed buffer per worker thread keeps memory flat and lets
two or three threads overlap: ``hashlib`` and file I/O release the GIL on large buffers, so with
4 MiB chunks one thread hashes while another waits on the disk or the network. The buffer is an
anonymous ``mmap``, hence page-aligned, so a local destination can hand full chunks to the disk
with ``O_DIRECT`` (see :mod:`exporters.destinations`) straight from it.
"""

from __future__ import annotations

import hashlib
import mmap
import threading
from collections.abc import Callable
from typing import Protocol

CHUNK_SIZE = 4 << 20
_local = threading.local()


def thread_buffer() -> memoryview:
    """This thread's reusable, page-aligned chunk buffer (allocated once per worker thread)."""
    view: memoryview | None = getattr(_local, "view", None)
    if view is None:
        view = memoryview(mmap.mmap(-1, CHUNK_SIZE))
        _local.view = view
    return view


class RawWriter(Protocol):
    """Where payload bytes land; ``commit`` makes them visible atomically and durably."""

    def write(self, data: memoryview | bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class HashingWriter:
    """Wraps a :class:`RawWriter`: every chunk is hashed and counted as it is written."""

    def __init__(self, raw: RawWriter, on_bytes: Callable[[int], None] | None = None) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self._on_bytes = on_bytes
        self.size = 0

    def write(self, data: memoryview | bytes) -> None:
        self._hash.update(data)
        self._raw.write(data)
        self.size += len(data)
        if self._on_bytes is not None:
            self._on_bytes(len(data))

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def commit(self) -> None:
        self._raw.commit()

    def abort(self) -> None:
        self._raw.abort()


def copy_readinto(readinto: Callable[[memoryview], int | None], writer: HashingWriter) -> None:
    """Pump a ``readinto``-style reader into ``writer`` with this thread's fixed buffer."""
    view = thread_buffer()
    while True:
        count = readinto(view)
        if not count:
            return
        writer.write(view[:count])


def copy_read(read: Callable[[int], bytes], writer: HashingWriter) -> None:
    """Pump a ``read(n)``-style reader (HTTP bodies) into ``writer`` chunk by chunk."""
    while chunk := read(CHUNK_SIZE):
        writer.write(chunk)
