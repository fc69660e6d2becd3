"""Copy bytes once, hashing exactly the chunks we write.

Why: a reversibility export can be hundreds of gigabytes. Reading every byte once, hashing the very
buffer that is written, and reusing two fixed buffers per worker thread keeps memory flat.
``hashlib`` and file I/O release the GIL on large buffers, so a chunk is written by a helper
thread *while* the worker hashes it, and the next chunk is read into the other buffer meanwhile:
a file costs the longer of hashing and writing, not their sum (measured: about 35 % less wall
time on the benchmark tree than hashing then writing in turn). The buffers are anonymous
``mmap`` s, hence page-aligned, so a local destination can hand full chunks to the disk with
``O_DIRECT`` (see :mod:`exporters.destinations`) straight from them.

The pipeline also runs across files: a file's last chunk is still being written while the worker
opens, reads and hashes the next file, and the first file is committed only once that write has
landed (see ``then`` in :func:`copy_readinto`). Without this, every file ended with the worker
idle, waiting for the disk: a 1 MiB file is one chunk, so its whole write was idle time (measured:
a tenth of the wall time on the benchmark tree, whose 268 files of 1 MiB or more end 268 times).
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

CHUNK_SIZE = 4 << 20
# Below this a chunk is written in the worker itself: handing it to another thread costs more
# than the overlap saves (small files are a single short chunk).
OVERLAP_MIN = 1 << 20
_local = threading.local()
_pool_lock = threading.Lock()
_write_pool: ThreadPoolExecutor | None = None


def thread_buffers() -> tuple[memoryview, memoryview]:
    """This thread's two reusable, page-aligned chunk buffers (allocated once per thread)."""
    views: tuple[memoryview, memoryview] | None = getattr(_local, "views", None)
    if views is None:
        views = (_anonymous_buffer(), _anonymous_buffer())
        _local.views = views
    return views


def _anonymous_buffer() -> memoryview:
    """A page-aligned chunk buffer: private anonymous memory where the platform has it.

    ``mmap(-1, n)`` alone maps *shared* anonymous memory, which Linux backs with shmem: its
    first touch costs about twice a private page's (measured: 21 ms against 10 ms per 16 MiB),
    and every worker touches its two buffers in full on its first large file.
    """
    flags = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
    if flags:
        return memoryview(mmap.mmap(-1, CHUNK_SIZE, flags=flags))
    return memoryview(mmap.mmap(-1, CHUNK_SIZE))


@dataclass
class _Tail:
    """A file whose last chunk is still being written from one of this thread's buffers."""

    write: Future[None]
    buffer: int
    then: Callable[[], None]
    writer: HashingWriter


def _tail() -> _Tail | None:
    tail: _Tail | None = getattr(_local, "tail", None)
    return tail


def deferred_file() -> object | None:
    """A token for the file this thread has deferred, if any (see :func:`copy_readinto`)."""
    return _tail()


def settle_deferred() -> None:
    """Finish this thread's deferred file: wait for its last write, then run its ``then``.

    If the write failed, the file is aborted and the error raised. Called before the buffer is
    reused, when the next file ends, by the packer after a task that copied nothing, and when
    the thread leaves :func:`pipelined`.
    """
    tail = _tail()
    if tail is None:
        return
    _local.tail = None
    try:
        tail.write.result()
    except BaseException:
        tail.writer.abort()
        raise
    tail.then()


@contextlib.contextmanager
def pipelined() -> Iterator[None]:
    """Let :func:`copy_readinto` defer files on this thread while inside; settle on the way out.

    Only threads that promise to settle get the overlap: elsewhere (a caller running one task
    by hand, a test) ``then`` runs before ``copy_readinto`` returns, as it always did. On the
    way out after a failure, a file whose write landed is still committed, so the failing
    run's final journal flush keeps it; an error doing so is dropped, the first one wins.
    """
    _local.pipelined = True
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            settle_deferred()
        raise
    else:
        settle_deferred()
    finally:
        _local.pipelined = False
        _local.tail = None


def _writes() -> ThreadPoolExecutor:
    """The process-wide helper threads that write chunks while their workers hash them.

    Each worker has at most two chunks in flight (its file's, and the last one of the file
    before), so the pool queues little; its size only caps how many writes overlap at once.
    """
    global _write_pool
    with _pool_lock:
        if _write_pool is None:
            _write_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="exporters-write")
        return _write_pool


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
        self._counted(len(data))

    def write_overlapped(self, data: memoryview) -> Future[None]:
        """Start writing ``data`` on a helper thread, hash it here meanwhile.

        The caller must not touch ``data`` nor write again before the returned future is done;
        writes therefore stay in order.
        """
        future = _writes().submit(self._raw.write, data)
        try:
            self._hash.update(data)
            self._counted(len(data))  # may raise: the export is being cancelled
        except BaseException:
            # The caller will abort (close) the destination: let this write end first, or it
            # could land in whatever file reuses the descriptor, or open an upload nobody ends.
            wait_quietly(future)
            raise
        return future

    def _counted(self, size: int) -> None:
        self.size += size
        if self._on_bytes is not None:
            self._on_bytes(size)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def commit(self) -> None:
        self._raw.commit()

    def abort(self) -> None:
        self._raw.abort()


def copy_readinto(
    readinto: Callable[[memoryview], int | None],
    writer: HashingWriter,
    *,
    expected_size: int | None = None,
    then: Callable[[], None] | None = None,
) -> None:
    """Pump a ``readinto``-style reader into ``writer``, alternating this thread's two buffers.

    While chunk *n* is written (helper thread) and hashed (here), nothing reads into its buffer:
    chunk *n + 1* goes to the other one, and the write of *n* is awaited before *n + 1* is
    handed over, so writes reach the destination in order. With ``expected_size`` (a regular
    file's size from ``fstat``), a read that does not fill the buffer and brings the total to
    that size is taken as the end, instead of reading once more to see it: a small file costs
    one read, not two. The caller still checks the final size, so a file that grew is caught.

    ``then`` is what finishes the file (check and commit it). Given one, this returns as soon as
    the reader is exhausted, even if the last chunk is still being written, provided the thread
    runs inside :func:`pipelined`: ``then`` runs on this thread once that write has landed, at
    the latest when its next file ends (see :func:`settle_deferred`). If the write fails, the
    writer is aborted and the error is raised there instead. Otherwise every write has landed,
    and ``then`` has run, when this returns.
    """
    views = thread_buffers()
    tail = _tail()
    index = 0 if tail is None else tail.buffer ^ 1
    pending: Future[None] | None = None
    try:
        while True:
            if tail is not None and index == tail.buffer:
                tail = None
                settle_deferred()  # the previous file's last write is done with this buffer
            view = views[index]
            count = readinto(view)
            if not count:
                break
            if pending is not None:
                pending.result()
                pending = None
            chunk = view[:count]
            if count < OVERLAP_MIN:
                writer.write(chunk)
            else:
                pending = writer.write_overlapped(chunk)
            index ^= 1
            if count < len(view) and writer.size == expected_size:
                break
        if pending is not None and then is not None and getattr(_local, "pipelined", False):
            settle_deferred()  # at most one file deferred per thread
            _local.tail = _Tail(pending, index ^ 1, then, writer)
            pending = None
            return
        if pending is not None:
            pending.result()
            pending = None
    finally:
        if pending is not None:
            # Failing: still let the write finish before the caller aborts (closes) the file.
            wait_quietly(pending)
    if then is not None:
        then()


def wait_quietly(future: Future[None]) -> None:
    """Wait for ``future`` and drop its error: a first error is already on its way up."""
    try:
        future.result()
    except BaseException:  # the caller re-raises the original failure
        return


def copy_read(read: Callable[[int], bytes], writer: HashingWriter) -> None:
    """Pump a ``read(n)``-style reader (HTTP bodies) into ``writer`` chunk by chunk."""
    while chunk := read(CHUNK_SIZE):
        writer.write(chunk)
