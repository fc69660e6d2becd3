"""Files under a local directory: ``file:///srv/app/tenants/{client}/``.

Why the care: the tree belongs to the application and may hold symlinks, sockets or names nobody
vetted. We never follow a symlink out of the root (a link to ``/etc`` must not end up in a client's
export), we skip non-regular files with a reason, and we refuse names that cannot be expressed
safely in a bag. Files are opened with ``O_NOFOLLOW`` so a link swapped in after the walk cannot
redirect the read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from exporters.errors import InputError
from exporters.paths import safe_relative
from exporters.redact import redact_url
from exporters.sources.base import InventoryItem, Sink, Skipped, payload_root
from exporters.streaming import CHUNK_SIZE, copy_readinto

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def default_name(url: str) -> str:
    """Last path component of the template that is not the ``{client}`` placeholder."""
    parts = [p for p in unquote(urlsplit(url).path).split("/") if p and "{client}" not in p]
    return parts[-1] if parts else "files"


class FileTask:
    def __init__(self, source: FileSource, rel: str, target: str, st: os.stat_result) -> None:
        self.label = rel
        self.size_hint = st.st_size
        self._source = source
        self._target = target
        self._path = f"{source.root_path}/{rel}"
        self._identity = f"file:{st.st_size}:{st.st_mtime_ns}"

    def run(self, sink: Sink) -> None:
        record = sink.completed(self._path, self._identity)
        if record is not None:
            sink.reuse(record)
            return
        fd = os.open(self._target, os.O_RDONLY | _NOFOLLOW)
        try:
            st = os.fstat(fd)
            identity = f"file:{st.st_size}:{st.st_mtime_ns}"
            if st.st_size > CHUNK_SIZE and hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            writer = sink.open(self._path)

            def finish() -> None:  # may run after this returns, once the last write landed
                if writer.size != st.st_size:
                    writer.abort()
                    raise InputError(
                        f"{self._source.display}: {self.label!r} changed while being exported; "
                        "rerun to resume"
                    )
                sink.commit(writer, self._path, identity, {"mtime_ns": st.st_mtime_ns})

            try:
                copy_readinto(
                    lambda view: os.readv(fd, (view,)),
                    writer,
                    expected_size=st.st_size,
                    then=finish,
                )
            except BaseException:
                writer.abort()
                raise
        finally:
            os.close(fd)


class FileSource:
    kind = "files"

    def __init__(self, url: str, client: str, name: str | None = None) -> None:
        parts = urlsplit(url)
        self.display = redact_url(url)
        if parts.netloc not in ("", "localhost"):
            raise InputError(f"file source {self.display}: only local files (file:///path/)")
        template = unquote(parts.path)
        if "{client}" in template and not client:
            raise InputError(f"file source {self.display} needs --client")
        self.root = Path(template.replace("{client}", client))
        if not self.root.is_dir():
            raise InputError(f"file source {self.display}: directory {self.root} does not exist")
        # Symlinks resolved: what the walk may read, and what ``--out`` must stay out of.
        self.real_root = os.path.realpath(self.root)
        self.name = name or default_name(url)
        self.root_path = payload_root(self.kind, self.name)

    def _inside(self, real: str) -> bool:
        return real == self.real_root or real.startswith(self.real_root.rstrip("/") + "/")

    def _walk(self, report: Sink | None) -> Iterator[tuple[str, str, os.stat_result]]:
        """(relative name, path to open, stat) for each regular file, in sorted order."""

        def skip(rel: str, reason: str) -> None:
            if report is not None:
                report.skip(Skipped(self.display, rel, reason))

        root = str(self.root)
        origin = f"file source {self.display}"
        # Relative names by slicing, not ``os.path.relpath`` (which resolves both paths again):
        # every ``dirpath`` os.walk yields is ``root`` or ``root`` + separator + more.
        cut = len(root.rstrip(os.sep)) + len(os.sep)
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            folder = dirpath[cut:].replace(os.sep, "/")
            prefix = f"{folder}/" if folder else ""
            kept = []
            for dirname in dirnames:
                full = os.path.join(dirpath, dirname)
                rel = prefix + dirname
                safe_relative(rel, origin=origin)
                if os.path.islink(full):
                    skip(rel + "/", "symlinked directory not followed")
                else:
                    kept.append(dirname)
            dirnames[:] = kept
            for filename in sorted(filenames):
                full = os.path.join(dirpath, filename)
                rel = prefix + filename
                safe_relative(rel, origin=origin)
                st = os.lstat(full)
                target = full
                if stat.S_ISLNK(st.st_mode):
                    real = os.path.realpath(full)
                    if not self._inside(real):
                        skip(rel, "symlink points outside the source root")
                        continue
                    try:
                        st = os.stat(real)
                    except OSError:
                        skip(rel, "dangling symlink")
                        continue
                    target = real
                if not stat.S_ISREG(st.st_mode):
                    skip(rel, "not a regular file")
                    continue
                yield rel, target, st

    def tasks(self, sink: Sink) -> Iterator[FileTask]:
        for rel, target, st in self._walk(sink):
            yield FileTask(self, rel, target, st)

    def scan(self) -> tuple[int, int]:
        count = total = 0
        for _rel, _target, st in self._walk(None):
            count += 1
            total += st.st_size
        return count, total

    def inventory(self) -> Iterator[InventoryItem]:
        for rel, _target, st in self._walk(None):
            yield InventoryItem(
                self.display, rel, st.st_size, f"file:{st.st_size}:{st.st_mtime_ns}"
            )
