"""Batched durability and O_DIRECT writes: the journal never gets ahead of the disk."""

from __future__ import annotations

import errno
import hashlib
import os
import sys
from pathlib import Path

import pytest

from exporters import destinations, pack, verify_bag
from exporters.destinations import LocalDestination, LocalWriter
from exporters.streaming import CHUNK_SIZE, HashingWriter, copy_readinto, thread_buffers
from tests.exporters.conftest import bagit_valid, sha256sum_check

SIZES = [
    0,
    1,
    4095,
    4096,
    4097,
    65_537,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    3 * CHUNK_SIZE - 5,
]


def _tree(root: Path, sizes: list[int]) -> dict[str, bytes]:
    root.mkdir()
    contents = {}
    for i, size in enumerate(sizes):
        data = os.urandom(size)
        (root / f"f{i:02} {size}.bin").write_bytes(data)
        contents[f"f{i:02} {size}.bin"] = data
    return contents


def test_thread_buffer_is_page_aligned():
    from exporters.destinations import _address

    assert _address(thread_buffers()[0]) % 4096 == 0


@pytest.mark.parametrize("size", SIZES)
def test_direct_writer_copies_every_size_exactly(tmp_path, size):
    data = os.urandom(size)
    (tmp_path / "src").write_bytes(data)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    writer = HashingWriter(LocalWriter(tmp_path / "out" / "copy", tmp, direct=True))
    with (tmp_path / "src").open("rb", buffering=0) as handle:
        copy_readinto(handle.readinto, writer)
    writer.commit()
    assert (tmp_path / "out" / "copy").read_bytes() == data
    assert writer.sha256 == hashlib.sha256(data).hexdigest() and writer.size == size


def test_direct_writer_accepts_unaligned_and_readonly_buffers(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    writer = LocalWriter(tmp_path / "out", tmp, direct=True)
    parts = [b"x" * 10, os.urandom(8192), bytearray(os.urandom(3 * 4096)), os.urandom(4096)]
    aligned = thread_buffers()[0]
    aligned[:8192] = os.urandom(8192)
    parts.append(bytes(aligned[:8192]))
    for part in parts:
        writer.write(part)
    writer.write(aligned[:8192])  # aligned address but an unaligned file offset: buffered
    writer.commit()
    assert (tmp_path / "out").read_bytes() == b"".join(parts) + bytes(aligned[:8192])


def test_filesystem_refusing_o_direct_falls_back_to_buffered(tmp_path, monkeypatch):
    def refuse(self, on):
        if on:
            raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(LocalWriter, "_set_direct", refuse)
    contents = _tree(tmp_path / "src", [CHUNK_SIZE + 7, 100])
    result = pack([f"file://{tmp_path / 'src'}/"], str(tmp_path / "bag"), client="")
    for name, data in contents.items():
        assert (tmp_path / "bag" / "data/files/src" / name).read_bytes() == data
    assert result.files == 2 and verify_bag(tmp_path / "bag").ok


def test_journal_lines_follow_the_sync_that_covers_their_files(tmp_path, monkeypatch):
    events: list[tuple[str, object]] = []
    real_sync = LocalDestination.sync
    real_append = LocalDestination.journal_append
    real_remove = LocalDestination.journal_remove

    def sync(self, relpaths):
        events.append(("sync", list(relpaths)))
        real_sync(self, relpaths)

    def append(self, key, line):
        events.append(("append", key))
        real_append(self, key, line)

    def remove(self):
        events.append(("remove", None))
        real_remove(self)

    monkeypatch.setattr(LocalDestination, "sync", sync)
    monkeypatch.setattr(LocalDestination, "journal_append", append)
    monkeypatch.setattr(LocalDestination, "journal_remove", remove)
    monkeypatch.setattr(sys.modules["exporters.pack"], "BATCH_FILES", 3)  # several batches
    monkeypatch.setattr(sys.modules["exporters.pack"], "BATCH_SECONDS", 3600.0)
    _tree(tmp_path / "src", [10 + i for i in range(10)])
    out = tmp_path / "bag"
    result = pack([f"file://{tmp_path / 'src'}/"], str(out), client="", case_id="D", workers=1)

    synced: set[str] = set()
    appended = []
    for kind, value in events:
        if kind == "sync":
            synced.update(value)  # type: ignore[arg-type]
        elif kind == "append" and value:
            assert value in synced, f"{value} journaled before it was synced"
            appended.append(value)
    assert sorted(appended) == sorted(e.path for e in result.manifest)
    syncs = sum(1 for kind, _ in events if kind == "sync")
    assert syncs == 4 + 1  # batches of 3, 3, 3, 1 files, then the tag files; not one per file
    # The tag files are made durable before the journal goes away.
    last_sync = max(i for i, (kind, _) in enumerate(events) if kind == "sync")
    assert events[-1][0] == "remove" and last_sync < len(events) - 1
    assert "manifest-sha256.txt" in events[last_sync][1]  # type: ignore[operator]
    assert bagit_valid(out) and sha256sum_check(out).returncode == 0


@pytest.mark.parametrize("durable", [True, False])
def test_fsync_fallback_without_syncfs(tmp_path, monkeypatch, durable):
    monkeypatch.setattr(destinations, "_SYNCFS", None)
    fsynced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsynced.append(fd), real_fsync(fd))[1])
    _tree(tmp_path / "src", [1, 5000, 70_000])
    out = tmp_path / "bag"
    pack([f"file://{tmp_path / 'src'}/"], str(out), client="", durable=durable)
    assert verify_bag(out).ok and bagit_valid(out)
    assert bool(fsynced) == durable


@pytest.mark.parametrize(
    "sizes",
    [[100, 200, 300, 400], [CHUNK_SIZE + 5, 2 * CHUNK_SIZE, 3 << 20, 400]],
    ids=["small files", "files whose last write overlaps the next file"],
)
def test_files_finished_before_a_failure_stay_journaled(tmp_path, monkeypatch, sizes):
    from exporters.sources import files

    _tree(tmp_path / "src", sizes)
    real_run = files.FileTask.run

    def run(self, sink):
        if self.label.startswith("f03"):
            raise OSError(errno.EIO, "simulated read error")
        real_run(self, sink)

    monkeypatch.setattr(files.FileTask, "run", run)
    out = tmp_path / "bag"
    with pytest.raises(OSError):
        pack([f"file://{tmp_path / 'src'}/"], str(out), client="", workers=1)
    lines = (out / destinations.JOURNAL_NAME).read_text().splitlines()
    assert len(lines) == 1 + 3  # header + the three files finished before the error
    monkeypatch.setattr(files.FileTask, "run", real_run)
    result = pack([f"file://{tmp_path / 'src'}/"], str(out), client="", workers=1)
    assert result.resumed and result.reused_files == 3 and result.copied_files == 1
    assert verify_bag(out).ok


class _FailingRaw:
    """A destination that fails on its second chunk, slowly, as a full disk would."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.aborted = False

    def write(self, data: memoryview | bytes) -> None:
        if len(self.chunks) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.chunks.append(bytes(data))

    def commit(self) -> None:  # pragma: no cover - never reached
        raise AssertionError

    def abort(self) -> None:
        self.aborted = True


def test_overlapped_writes_stay_in_order_and_hash_every_byte(tmp_path):
    data = os.urandom(5 * CHUNK_SIZE + 12345)
    (tmp_path / "src").write_bytes(data)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    writer = HashingWriter(LocalWriter(tmp_path / "copy", tmp, direct=True))
    with (tmp_path / "src").open("rb", buffering=0) as handle:
        copy_readinto(handle.readinto, writer)
    writer.commit()
    assert (tmp_path / "copy").read_bytes() == data
    assert writer.sha256 == hashlib.sha256(data).hexdigest()


def test_a_write_failing_on_the_helper_thread_reaches_the_worker(tmp_path):
    (tmp_path / "src").write_bytes(os.urandom(3 * CHUNK_SIZE))
    raw = _FailingRaw()
    writer = HashingWriter(raw)
    with (tmp_path / "src").open("rb", buffering=0) as handle, pytest.raises(OSError) as caught:
        copy_readinto(handle.readinto, writer)
    assert caught.value.errno == errno.ENOSPC
    assert len(raw.chunks) == 1


def test_a_cancelled_export_waits_for_the_write_in_flight_before_aborting(tmp_path):
    import threading
    import time

    events: list[str] = []
    started = threading.Event()

    class SlowRaw:
        def write(self, data: memoryview | bytes) -> None:
            started.set()
            events.append("write-start")
            time.sleep(0.2)
            events.append("write-end")

        def commit(self) -> None:  # pragma: no cover - never reached
            raise AssertionError

        def abort(self) -> None:
            events.append("abort")

    class Cancelled(Exception):
        pass

    def cancel(_size: int) -> None:
        started.wait(1)
        raise Cancelled  # as the packer does once another worker failed

    (tmp_path / "src").write_bytes(os.urandom(2 * CHUNK_SIZE))
    writer = HashingWriter(SlowRaw(), on_bytes=cancel)
    with (tmp_path / "src").open("rb", buffering=0) as handle, pytest.raises(Cancelled):
        copy_readinto(handle.readinto, writer)
    writer.abort()
    assert events == ["write-start", "write-end", "abort"]
