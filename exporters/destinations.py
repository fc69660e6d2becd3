"""Where a bag is written: a local directory or an S3 prefix, behind one small interface.

Both give the exporter the same guarantees: a payload file becomes visible under its final name
only when complete (local: temporary name, atomic ``rename``; S3: a multipart upload is invisible
until completed), so a crash never leaves a half-written file that a resumed run could mistake
for a finished one. Memory stays bounded: the local writer streams to the file descriptor, the S3
writer holds at most one part.

Durability is batched (see :meth:`LocalDestination.sync`): the packer makes a batch of committed
files durable with one ``syncfs`` and only then writes their journal lines, so the journal never
names a file a power cut could lose, without one ``fsync`` (and one disk cache flush) per file.

Full, page-aligned chunks go to a local file with ``O_DIRECT``: straight from the worker's buffer
to the disk, without first allocating and dirtying page cache for data we will not read again
(an export of hundreds of gigabytes would otherwise evict the server's hot pages, and on a VM the
page allocation alone costs as much as the copy). File tails, and filesystems that refuse
``O_DIRECT``, use ordinary buffered writes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import io
import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

from exporters.errors import InputError
from exporters.redact import redact_url
from exporters.s3util import S3Location, parse_s3_url
from exporters.streaming import RawWriter

TMP_DIR = ".exporters-tmp"
JOURNAL_NAME = ".exporters-journal.jsonl"
S3_JOURNAL_DIR = ".exporters-journal/"
DEFAULT_PART_SIZE = 8 << 20
MIN_PART_SIZE = 5 << 20

State = Literal["fresh", "resume", "complete", "occupied"]


class Destination(Protocol):
    """The operations the packer needs; paths are ``/``-separated and relative to the bag root."""

    name: str

    def describe(self) -> str: ...

    def exclusive(self) -> contextlib.AbstractContextManager[None]: ...

    def location(self, relpath: str = "") -> str: ...

    def state(self) -> State: ...

    def prepare(self) -> None: ...

    def make_payload_dir(self) -> None: ...

    def open_writer(self, relpath: str) -> RawWriter: ...

    def open_sibling_writer(self, suffix: str) -> RawWriter: ...

    def sibling_location(self, suffix: str) -> str: ...

    def size_of(self, relpath: str) -> int | None: ...

    def open_read(self, relpath: str) -> BinaryIO: ...

    def journal_lines(self) -> list[bytes]: ...

    @property
    def needs_sync(self) -> bool: ...

    def sync(self, relpaths: list[str]) -> None: ...

    def journal_append(self, key: str, line: bytes) -> None: ...

    def journal_sync(self) -> None: ...

    def journal_remove(self) -> None: ...

    def cleanup(self) -> None: ...


_O_DIRECT = getattr(os, "O_DIRECT", 0)
DIRECT_ALIGN = 4096
# An O_DIRECT write waits for the disk, so it pays only for large chunks; a small file written
# that way spent more time waiting than a buffered write costs (measured on the benchmark tree).
DIRECT_MIN = 256 << 10


# Temporary names: a random token per process (a random name per file cost a system call
# each) plus a counter. Not the pid: two containers sharing a volume can both be pid 1.
_PART_TOKEN = os.urandom(8).hex()
_part_numbers = itertools.count()


def _address(data: memoryview) -> int | None:
    """Memory address of a writable buffer (``None`` for read-only ones such as ``bytes``)."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(data))
    except (TypeError, ValueError):
        return None


class LocalWriter:
    """Writes to ``<bag>/.exporters-tmp/<token>-<pid>-<n>.part``, renamed into place on commit.

    ``fsync=True`` makes the file durable before the rename (small tag files at the end);
    payload files are made durable in batches by :meth:`LocalDestination.sync` instead.
    ``direct=True`` sends full aligned chunks with ``O_DIRECT`` (see the module docstring).
    """

    def __init__(
        self, final: str | Path, tmp_dir: str | Path, *, fsync: bool = False, direct: bool = False
    ) -> None:
        # Plain strings, not Paths: a writer is made per file, and small files pay per call.
        self._final = final
        self._fsync = fsync
        self._direct = direct and _O_DIRECT != 0
        self._direct_on = False
        self._offset = 0
        self._tmp = f"{tmp_dir}/{_PART_TOKEN}-{os.getpid()}-{next(_part_numbers)}.part"
        self._fd: int | None = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)

    def _set_direct(self, on: bool) -> None:
        assert self._fd is not None
        if on == self._direct_on:
            return
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        fcntl.fcntl(self._fd, fcntl.F_SETFL, (flags | _O_DIRECT) if on else (flags & ~_O_DIRECT))
        self._direct_on = on

    def _write_all(self, view: memoryview) -> None:
        assert self._fd is not None
        while view:
            written = os.write(self._fd, view)
            self._offset += written
            view = view[written:]

    def write(self, data: memoryview | bytes) -> None:
        view = memoryview(data).cast("B")
        if self._direct and self._offset % DIRECT_ALIGN == 0 and len(view) >= DIRECT_MIN:
            address = _address(view)
            if address is not None and address % DIRECT_ALIGN == 0:
                aligned = len(view) - len(view) % DIRECT_ALIGN
                try:
                    self._set_direct(True)
                    written = os.write(self._fd, view[:aligned])  # type: ignore[arg-type]
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                    self._direct = False  # this filesystem refuses O_DIRECT: buffered from now
                    written = 0
                self._offset += written
                view = view[written:]
        if view:
            if self._direct_on:
                self._set_direct(False)
            self._write_all(view)

    def commit(self) -> None:
        assert self._fd is not None
        try:
            if self._fsync:
                os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None
        try:
            os.replace(self._tmp, self._final)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(self._final), exist_ok=True)
            os.replace(self._tmp, self._final)

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


def _load_syncfs() -> Any:
    """libc's ``syncfs(fd)`` (Linux), or ``None`` where it is not available.

    Looked up in the running program's own symbols (``CDLL(None)``, which include the C
    library's): ``ctypes.util.find_library`` would run ``ldconfig`` in a subprocess on every
    start, a noticeable part of a small export.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_SYNCFS = _load_syncfs()


class LocalDestination:
    """A bag directory; ``durable=False`` skips fsync (safe against kill -9, not power loss)."""

    def __init__(self, root: Path, durable: bool = True, direct: bool = True) -> None:
        self.root = root
        self._durable = durable
        self._direct = direct
        self.name = root.name
        self._tmp = root / TMP_DIR
        self._root_text = str(root)
        self._tmp_text = str(self._tmp)
        self._journal = root / JOURNAL_NAME
        self._journal_fd: int | None = None

    def describe(self) -> str:
        return str(self.root)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold an exclusive ``flock`` on the bag directory for the whole run.

        Two runs on one bag would empty each other's temporary folder and interleave their
        journals; the second is refused at once instead. The lock is on the directory itself,
        so a finished bag holds no lock file, and it goes with the process if that dies.
        """
        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"destination {self.root} exists and is not a directory")
        self._create_root()
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InputError(
                    f"{self.root} is being written by another export right now; "
                    "wait for it to end (a rerun then resumes or finds the bag finished)"
                ) from None
            yield
        finally:
            os.close(fd)

    def location(self, relpath: str = "") -> str:
        return str(self.root / relpath) if relpath else str(self.root)

    def state(self) -> State:
        if not self.root.exists():
            return "fresh"
        if not self.root.is_dir():
            raise InputError(f"destination {self.root} exists and is not a directory")
        if self._journal.exists():
            return "resume"
        names = {p.name for p in self.root.iterdir()} - {TMP_DIR}
        if not names:
            return "fresh"
        return "complete" if "bagit.txt" in names else "occupied"

    def _create_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create destination {self.root}: {exc.strerror}") from exc

    def prepare(self) -> None:
        self._create_root()
        # Leftovers of a killed run are partial files under names nobody reuses: never resumed.
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp.mkdir()

    def make_payload_dir(self) -> None:
        """``data/`` even with no payload file: RFC 8493 requires it, bagit-python checks it.

        Made at the end, not in :meth:`prepare`: a run killed before its journal exists must
        leave the directory looking fresh (only the temporary folder), or the rerun refuses it.
        """
        (self.root / "data").mkdir(exist_ok=True)

    def open_writer(self, relpath: str) -> LocalWriter:
        return LocalWriter(f"{self._root_text}/{relpath}", self._tmp_text, direct=self._direct)

    def sibling_location(self, suffix: str) -> str:
        return str(self.root.with_name(self.root.name + suffix))

    def open_sibling_writer(self, suffix: str) -> LocalWriter:
        # Outside the bag directory, so not covered by the journal: durable on its own.
        final = self.sibling_location(suffix)
        return LocalWriter(final, self._tmp_text, fsync=self._durable, direct=self._direct)

    @property
    def needs_sync(self) -> bool:
        """True when committed files must go through :meth:`sync` before being journaled."""
        return self._durable

    def sync(self, relpaths: list[str]) -> None:
        """Make the committed files ``relpaths`` (data and names) survive a power cut.

        One ``syncfs`` of the bag's filesystem where the C library has it (one pass of
        writeback and one disk cache flush for the whole batch), else one ``fsync`` per file and
        per parent directory. A no-op with ``durable=False``.
        """
        if not self._durable or not relpaths:
            return
        if _SYNCFS is not None:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                if _SYNCFS(fd) == 0:
                    return
            finally:
                os.close(fd)
        folders = {self.root}
        for relpath in relpaths:
            path = self.root / relpath
            _fsync_path(path, os.O_RDONLY)
            folders.add(path.parent)
        for folder in folders:
            _fsync_path(folder, os.O_RDONLY | os.O_DIRECTORY)

    def size_of(self, relpath: str) -> int | None:
        try:
            return (self.root / relpath).stat().st_size
        except FileNotFoundError:
            return None

    def open_read(self, relpath: str) -> BinaryIO:
        return (self.root / relpath).open("rb")

    def journal_lines(self) -> list[bytes]:
        try:
            return self._journal.read_bytes().splitlines(keepends=True)
        except FileNotFoundError:
            return []

    def journal_append(self, key: str, line: bytes) -> None:
        if self._journal_fd is None:
            self._journal_fd = os.open(self._journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(self._journal_fd, line)

    def journal_sync(self) -> None:
        if self._durable and self._journal_fd is not None:
            os.fsync(self._journal_fd)

    def journal_remove(self) -> None:
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        with contextlib.suppress(FileNotFoundError):
            self._journal.unlink()

    def cleanup(self) -> None:
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        shutil.rmtree(self._tmp, ignore_errors=True)


def _fsync_path(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3Writer:
    """Streams one object: a single PUT if it fits in a part, else a multipart upload.

    At most ``part_size`` bytes are buffered; the upload is invisible until completed, which is
    S3's equivalent of the local rename.
    """

    def __init__(self, client: Any, bucket: str, key: str, part_size: int) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def write(self, data: memoryview | bytes) -> None:
        view = memoryview(data)
        while view:
            room = self._part_size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) >= self._part_size:
                self._flush_part()

    def _flush_part(self) -> None:
        if self._upload_id is None:
            answer = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
            self._upload_id = answer["UploadId"]
        number = len(self._parts) + 1
        answer = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=bytes(self._buffer),
        )
        self._parts.append({"ETag": answer["ETag"], "PartNumber": number})
        self._buffer.clear()

    def commit(self) -> None:
        if self._upload_id is None:
            self._client.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer))
            self._buffer.clear()
            return
        if self._buffer:
            self._flush_part()
        self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )

    def abort(self) -> None:
        self._buffer.clear()
        if self._upload_id is not None:
            with contextlib.suppress(Exception):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                )


class S3Destination:
    """A bag under ``s3://bucket/prefix/<name>/``; journal entries are small objects there."""

    def __init__(self, url: str, loc: S3Location, part_size: int, workers: int) -> None:
        self._url = url
        self._loc = loc
        prefix = loc.prefix.rstrip("/")
        if not prefix:
            raise InputError(f"destination {redact_url(url)} needs a prefix naming the bag")
        self._prefix = prefix + "/"
        self.name = prefix.rpartition("/")[2]
        self._part_size = part_size
        self._client = loc.client(max_connections=workers + 4)

    @property
    def bucket(self) -> str:
        return self._loc.bucket

    @property
    def prefix(self) -> str:
        """The bag's key prefix, ending in ``/``."""
        return self._prefix

    @property
    def endpoint_url(self) -> str | None:
        return self._loc.endpoint_url

    def _key(self, relpath: str) -> str:
        return self._prefix + relpath

    def describe(self) -> str:
        return redact_url(self._url)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """S3 has no lock to take: the service's job leases keep one run per bag (ADR 0002)."""
        yield

    def location(self, relpath: str = "") -> str:
        return f"s3://{self._loc.bucket}/{self._key(relpath)}"

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self._loc.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def state(self) -> State:
        answer = self._client.list_objects_v2(
            Bucket=self._loc.bucket, Prefix=self._prefix + S3_JOURNAL_DIR, MaxKeys=1
        )
        if answer.get("KeyCount", 0):
            return "resume"
        answer = self._client.list_objects_v2(
            Bucket=self._loc.bucket, Prefix=self._prefix, MaxKeys=1
        )
        if not answer.get("KeyCount", 0):
            return "fresh"
        return "complete" if self._exists(self._key("bagit.txt")) else "occupied"

    def prepare(self) -> None:
        # Abort multipart uploads a killed run left behind: they are invisible but cost storage.
        paginator = self._client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self._loc.bucket, Prefix=self._prefix):
            for upload in page.get("Uploads", []):
                self._client.abort_multipart_upload(
                    Bucket=self._loc.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )

    def make_payload_dir(self) -> None:
        """S3 has no directories: ``data/`` exists in the downloaded bag and in its tar only."""
        return None

    def open_writer(self, relpath: str) -> S3Writer:
        return S3Writer(self._client, self._loc.bucket, self._key(relpath), self._part_size)

    def _sibling_key(self, suffix: str) -> str:
        return self._prefix.rstrip("/") + suffix

    def sibling_location(self, suffix: str) -> str:
        return f"s3://{self._loc.bucket}/{self._sibling_key(suffix)}"

    def open_sibling_writer(self, suffix: str) -> S3Writer:
        return S3Writer(self._client, self._loc.bucket, self._sibling_key(suffix), self._part_size)

    def size_of(self, relpath: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            answer = self._client.head_object(Bucket=self._loc.bucket, Key=self._key(relpath))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(answer["ContentLength"])

    def open_read(self, relpath: str) -> BinaryIO:
        body = self._client.get_object(Bucket=self._loc.bucket, Key=self._key(relpath))["Body"]
        return _BodyReader(body)

    def _journal_keys(self) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=self._loc.bucket, Prefix=self._prefix + S3_JOURNAL_DIR
        ):
            for item in page.get("Contents", []):
                yield item["Key"]

    def journal_lines(self) -> list[bytes]:
        lines = []
        for key in sorted(self._journal_keys()):
            body = self._client.get_object(Bucket=self._loc.bucket, Key=key)["Body"].read()
            lines.append(body)
        return lines

    def journal_append(self, key: str, line: bytes) -> None:
        # Header first ("0…"), then one object per payload file, named by its path's hash.
        name = "0-header" if key == "" else "1-" + hashlib.sha256(key.encode()).hexdigest()
        self._client.put_object(
            Bucket=self._loc.bucket, Key=self._prefix + S3_JOURNAL_DIR + name + ".json", Body=line
        )

    @property
    def needs_sync(self) -> bool:
        return False  # a completed upload or PUT is already durable when S3 answers

    def sync(self, relpaths: list[str]) -> None:
        return None

    def journal_sync(self) -> None:
        return None

    def journal_remove(self) -> None:
        keys = list(self._journal_keys())
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self._client.delete_objects(
                Bucket=self._loc.bucket, Delete={"Objects": batch, "Quiet": True}
            )

    def cleanup(self) -> None:
        return None


class _BodyReader(io.RawIOBase):
    """A botocore streaming body seen as a readable binary file (for the tar writer)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


def open_destination(
    out: str, *, part_size: int | None = None, workers: int = 2, durable: bool = True
) -> Destination:
    """Pick the destination from ``out``: ``s3://…`` or a local directory path."""
    if out.startswith("s3://"):
        loc = parse_s3_url(out, what="destination")
        size = part_size or int(loc.params.get("part_size") or DEFAULT_PART_SIZE)
        if size < MIN_PART_SIZE:
            raise InputError(f"S3 part size must be at least {MIN_PART_SIZE} bytes (S3 minimum)")
        return S3Destination(out, loc, size, workers)
    if "://" in out:
        scheme = out.split("://", 1)[0]
        raise InputError(
            f"unsupported destination scheme {scheme!r}: use a directory path or s3://bucket/prefix/"
        )
    path = Path(out).expanduser()
    if path.name in ("", ".", ".."):
        path = path.resolve()
    return LocalDestination(path, durable)


__all__ = [
    "DEFAULT_PART_SIZE",
    "JOURNAL_NAME",
    "TMP_DIR",
    "Destination",
    "LocalDestination",
    "S3Destination",
    "open_destination",
]
