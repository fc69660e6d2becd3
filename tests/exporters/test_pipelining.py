"""A file's last write overlaps the next file: nothing is committed, or reused, too early."""

from __future__ import annotations

import errno
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from exporters import destinations, pack, verify_bag
from exporters.sources import files
from exporters.streaming import CHUNK_SIZE, HashingWriter, copy_readinto, pipelined
from tests.exporters.conftest import bagit_valid


class SlowRaw:
    """Records every write, each taking a while, and refuses to commit before they landed."""

    def __init__(self, name: str, log: list[str], fail: bool = False) -> None:
        self.name = name
        self.log = log
        self.fail = fail
        self.data = bytearray()
        self.writing = False

    def write(self, data: memoryview | bytes) -> None:
        self.writing = True
        time.sleep(0.05)
        if self.fail:
            self.writing = False
            raise OSError(errno.EIO, "Input/output error")
        self.data += data
        self.writing = False
        self.log.append(f"{self.name}:write")

    def commit(self) -> None:
        assert not self.writing
        self.log.append(f"{self.name}:commit")

    def abort(self) -> None:
        self.log.append(f"{self.name}:abort")


def _copy(path: Path, writer: HashingWriter, then: Callable[[], object]) -> None:
    with path.open("rb", buffering=0) as handle:
        copy_readinto(handle.readinto, writer, expected_size=path.stat().st_size, then=then)


def _file(tmp_path: Path, name: str, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def test_the_last_write_is_still_in_flight_when_the_next_file_starts(tmp_path: Path) -> None:
    log: list[str] = []
    first, first_data = _file(tmp_path, "a", CHUNK_SIZE)  # one chunk: all of it is the tail
    second, second_data = _file(tmp_path, "b", 3 * CHUNK_SIZE)
    raw_a, raw_b = SlowRaw("a", log), SlowRaw("b", log)
    writer_a, writer_b = HashingWriter(raw_a), HashingWriter(raw_b)

    with pipelined():
        _copy(first, writer_a, lambda: (writer_a.commit(), log.append("a:then")))
        assert "a:then" not in log  # returned before its write landed
        log.append("b:start")
        _copy(second, writer_b, lambda: (writer_b.commit(), log.append("b:then")))
        assert "b:then" not in log
    assert log[-2:] == ["b:commit", "b:then"]  # settled on the way out

    assert log.index("b:start") < log.index("a:write")  # the overlap happened
    assert log.index("a:write") < log.index("a:commit") < log.index("a:then")
    assert bytes(raw_a.data) == first_data and bytes(raw_b.data) == second_data
    assert writer_a.sha256 == hashlib.sha256(first_data).hexdigest()
    assert writer_b.sha256 == hashlib.sha256(second_data).hexdigest()


def test_outside_a_pipelined_thread_nothing_is_deferred(tmp_path: Path) -> None:
    """A caller running one task by hand gets its file finished before the copy returns."""
    log: list[str] = []
    first, _ = _file(tmp_path, "a", CHUNK_SIZE)
    writer = HashingWriter(SlowRaw("a", log))
    _copy(first, writer, lambda: (writer.commit(), log.append("a:then")))
    assert log == ["a:write", "a:commit", "a:then"]


def test_a_deferred_file_is_finished_before_its_buffer_is_read_into(tmp_path: Path) -> None:
    """The next file's second chunk goes into the buffer the tail is written from."""
    log: list[str] = []
    first, first_data = _file(tmp_path, "a", CHUNK_SIZE)
    second, _ = _file(tmp_path, "b", 2 * CHUNK_SIZE)
    raw_a = SlowRaw("a", log)
    reads: list[int] = []
    with pipelined():
        _copy(first, HashingWriter(raw_a), lambda: log.append("a:then"))
        with second.open("rb", buffering=0) as handle:

            def readinto(view: memoryview) -> int | None:
                reads.append(len(log))
                if len(reads) == 2:
                    assert "a:then" in log, "the tail's buffer was reused before its write ended"
                return handle.readinto(view)

            copy_readinto(readinto, HashingWriter(SlowRaw("b", log)), then=lambda: None)
    assert len(reads) >= 2
    assert bytes(raw_a.data) == first_data


def test_a_failing_tail_write_aborts_that_file_and_is_raised(tmp_path: Path) -> None:
    log: list[str] = []
    first, _ = _file(tmp_path, "a", CHUNK_SIZE)
    with pytest.raises(OSError) as caught, pipelined():
        _copy(first, HashingWriter(SlowRaw("a", log, fail=True)), lambda: log.append("a:then"))
    assert caught.value.errno == errno.EIO
    assert log == ["a:abort"]


def test_a_thread_failing_still_commits_a_file_whose_write_landed(tmp_path: Path) -> None:
    """So the failing run's journal flush keeps it and a rerun does not copy it again."""
    log: list[str] = []
    first, _ = _file(tmp_path, "a", CHUNK_SIZE)
    with pytest.raises(RuntimeError, match="next source broke"), pipelined():
        _copy(first, HashingWriter(SlowRaw("a", log)), lambda: log.append("a:then"))
        raise RuntimeError("next source broke")
    assert log == ["a:write", "a:then"]


def test_a_file_deferred_before_small_ones_is_committed_after_the_next_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large file followed by hours of small ones must not wait for them, uncommitted."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "a-large.bin").write_bytes(os.urandom(3 << 20))
    for i in range(20):
        (source / f"b-small-{i:02}.txt").write_bytes(os.urandom(1000))
    committed: list[str] = []
    real_commit = destinations.LocalWriter.commit

    def commit(self: destinations.LocalWriter) -> None:
        real_commit(self)
        committed.append(os.path.basename(self._final))

    monkeypatch.setattr(destinations.LocalWriter, "commit", commit)
    pack([f"file://{source}/"], str(tmp_path / "bag"), client="", workers=1)
    assert committed.index("a-large.bin") <= 1, committed[:5]


def test_a_bag_of_one_chunk_files_is_complete_and_valid(tmp_path: Path) -> None:
    """Every file of the run ends as a tail at least once; each must be committed, in the bag."""
    source = tmp_path / "src"
    source.mkdir()
    contents = {f"f{i}.bin": os.urandom(CHUNK_SIZE // 2 + i) for i in range(12)}
    for name, data in contents.items():
        (source / name).write_bytes(data)
    out = tmp_path / "bag"
    result = pack([f"file://{source}/"], str(out), client="", workers=2)
    assert result.files == len(contents)
    for name, data in contents.items():
        assert (out / "data" / "files" / "src" / name).read_bytes() == data
    assert verify_bag(out).ok
    assert bagit_valid(out)


def test_a_file_that_grew_is_refused_even_when_checked_after_the_next_one_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.bin").write_bytes(os.urandom(CHUNK_SIZE))
    (source / "b.bin").write_bytes(os.urandom(CHUNK_SIZE))
    real_fstat = os.fstat

    def fstat_reporting_less(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        if os.readlink(f"/proc/self/fd/{fd}").endswith("a.bin"):
            values = list(st)
            values[6] = st.st_size - 1  # st_size: as if the file grew after this call
            return os.stat_result(values)
        return st

    monkeypatch.setattr(files.os, "fstat", fstat_reporting_less)
    out = tmp_path / "bag"
    with pytest.raises(Exception, match="changed while being exported"):
        pack([f"file://{source}/"], str(out), client="", workers=1)
    assert list(out.rglob("a.bin")) == []
    assert list(out.rglob("*.part")) == []  # neither file left half-written
    monkeypatch.undo()
    result = pack([f"file://{source}/"], str(out), client="", workers=1)
    assert result.files == 2 and verify_bag(out).ok
