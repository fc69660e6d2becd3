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
            for name, size in names:
                info = tarfile.TarInfo(f"{destination.name}/{name}")
                info.size = size
                info.mtime = int(created.timestamp())
                info.mode = 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with destination.open_read(name) as handle:
                    archive.addfile(info, handle)
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    return destination.sibling_location(".tar"), writer.size, writer.sha256
