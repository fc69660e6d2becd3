"""An optional single ``<bag>.tar`` beside the bag, for hand-over by one download.

Why after the bag rather than during the copy: payload files are copied by several threads in
any order, while a tar is one sequential stream. The tar is built from the finished bag (a second
read of the destination, not of the sources), with fixed owners, modes and mtimes so the same bag
always gives the same tar bytes.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable
from datetime import datetime

from exporters.destinations import Destination
from exporters.streaming import CHUNK_SIZE, HashingWriter


class _TarSink:
    """The minimal file object ``tarfile`` needs in write mode: ``write`` and ``tell``."""

    def __init__(self, writer: HashingWriter) -> None:
        self._writer = writer

    def write(self, data: bytes) -> int:
        self._writer.write(data)
        return len(data)

    def tell(self) -> int:
        return self._writer.size


def _info(name: str, size: int, created: datetime, mode: int) -> tarfile.TarInfo:
    """A member header with fixed owner, mode and mtime, so the same bag gives the same tar."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(created.timestamp())
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_tar(
    destination: Destination, names: Iterable[tuple[str, int]], created: datetime
) -> tuple[str, int, str]:
    """Write ``<bag>.tar`` from bag-relative ``(name, size)``; returns (location, size, sha256)."""
    writer = HashingWriter(destination.open_sibling_writer(".tar"))
    try:
        with tarfile.open(
            fileobj=_TarSink(writer),  # type: ignore[arg-type]
            mode="w",
            format=tarfile.PAX_FORMAT,
            encoding="utf-8",
        ) as archive:
            archive.copybufsize = CHUNK_SIZE
            # data/ as an entry of its own: with no payload file nothing else would create it on
            # extraction, and a bag without data/ is not a bag (RFC 8493, also for S3 bags).
            folder = _info(f"{destination.name}/data", 0, created, 0o755)
            folder.type = tarfile.DIRTYPE
            archive.addfile(folder)
            for name, size in names:
                info = _info(f"{destination.name}/{name}", size, created, 0o644)
                with destination.open_read(name) as handle:
                    archive.addfile(info, handle)
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    return destination.sibling_location(".tar"), writer.size, writer.sha256
