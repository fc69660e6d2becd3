"""Where ``--out`` may not go: into, onto or around a source, or inside another bag.

Why refuse up front: a bag written inside its own source copies itself (its ``.part`` files and
journal vanish under the walk, so the run crashes or the bag holds a copy of itself), a bag that
contains its source's directory is the source, and a bag written under another bag's root adds
unlisted files to that bag and breaks it. Each of these leaves a half-written bag in somebody
else's tree, so the check runs before the destination directory is even created.

Local paths are compared as real paths (symlinks of the part that exists resolved, the rest taken
as written), since a link can put ``--out`` inside a source whatever its spelling. S3 prefixes
are compared per bucket; the bag-inside-a-bag check is local only (on S3 it would cost a request
per parent prefix, and those may lie outside what the credentials can read).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from exporters.destinations import JOURNAL_NAME, Destination, LocalDestination, S3Destination
from exporters.errors import InputError
from exporters.sources import Source

Relation = Literal["equal", "inside", "contains"]

_LOCAL_WORDING: dict[Relation, str] = {
    "equal": "is the directory of",
    "inside": "lies inside",
    "contains": "contains",
}
_S3_WORDING: dict[Relation, str] = {
    "equal": "is the prefix of",
    "inside": "lies inside",
    "contains": "contains",
}


def relation(out: str, source: str) -> Relation | None:
    """How ``out`` sits against ``source``; both are folder-like and end in ``/`` ("" = all)."""
    if out == source:
        return "equal"
    if out.startswith(source):
        return "inside"
    if source.startswith(out):
        return "contains"
    return None


def _folder(path: str) -> str:
    return path.rstrip("/") + "/"


def check_out(destination: Destination, sources: Sequence[Source]) -> None:
    """Raise :class:`InputError` if the bag would overlap a source or sit inside another bag."""
    if isinstance(destination, LocalDestination):
        _check_local(destination.root, sources)
    elif isinstance(destination, S3Destination):
        _check_s3(destination, sources)


def _check_local(root: Path, sources: Sequence[Source]) -> None:
    real = os.path.realpath(root)
    for source in sources:
        if source.kind != "files":
            continue
        # Imported here: only a run with such a source has loaded (and paid for) the module.
        from exporters.sources.files import FileSource

        assert isinstance(source, FileSource)
        found = relation(_folder(real), _folder(source.real_root))
        if found is not None:
            raise InputError(
                f"--out {root} {_LOCAL_WORDING[found]} file source {source.display} "
                f"({source.real_root}): the bag would copy itself; choose an --out outside it"
            )
    for parent in Path(real).parents:
        if (parent / "bagit.txt").is_file():
            raise InputError(
                f"--out {root} lies inside the bag {parent}: it would add files that bag does "
                "not list; choose an --out outside any bag"
            )
        if (parent / JOURNAL_NAME).is_file():
            raise InputError(
                f"--out {root} lies inside the unfinished bag {parent}: it would add files that "
                "bag does not list; choose an --out outside any bag"
            )


def _same_store(a: str | None, b: str | None) -> bool:
    """Two S3 endpoints may be one store unless both are named and differ.

    Without an ``endpoint_url``, boto3 picks one from the environment, which may well be the
    other URL's: refusing a rare false overlap (fixed by naming the endpoint) beats missing one.
    """
    return a is None or b is None or a.rstrip("/") == b.rstrip("/")


def _check_s3(destination: S3Destination, sources: Sequence[Source]) -> None:
    for source in sources:
        if source.kind != "s3":
            continue
        from exporters.sources.s3 import S3Source

        assert isinstance(source, S3Source)
        if source.bucket != destination.bucket:
            continue
        if not _same_store(source.endpoint_url, destination.endpoint_url):
            continue
        found = relation(destination.prefix, source.prefix)
        if found is not None:
            raise InputError(
                f"--out {destination.describe()} {_S3_WORDING[found]} S3 source "
                f"{source.display}: the bag would copy itself; choose an --out outside it"
            )
