"""Turn names coming from sources into safe, bag-relative payload paths.

Why a module of its own: every source (files, S3 keys, SQL table names) hands us names chosen by
someone else. A name with ``..`` or a leading ``/`` could write outside the bag; a control
character would corrupt a manifest line (and some terminals); a name that is not UTF-8 cannot be
written into a UTF-8 manifest at all. We refuse those with an error that names the culprit, and we
percent-encode in manifests exactly what RFC 8493 §2.1.3 demands (CR, LF and ``%``), nothing
more, so ``sha256sum -c`` keeps working on ordinary names with spaces and accents.
"""

from __future__ import annotations

import re

from exporters.errors import UnsafePathError

# C0 controls, DEL and C1 controls: never acceptable in a payload name.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Anything that makes a name need a closer look: controls, lone surrogates (not UTF-8), a leading
# slash, or an empty, '.' or '..' component. One search instead of a Python loop over every
# character: a file source checks a name per file, and ordinary names pass in one C call.
_SUSPECT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]|^/|(?:^|/)\.{0,2}(?:/|$)")
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+\Z")


def describe(name: str) -> str:
    """A printable rendering of a hostile name for error messages (escapes controls)."""
    return ascii(name) if _CONTROL.search(name) or _has_surrogates(name) else repr(name)


def _has_surrogates(name: str) -> bool:
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in name)


def safe_relative(name: str, *, origin: str) -> str:
    """Validate a ``/``-separated relative name and return it unchanged.

    ``origin`` says where the name came from (e.g. ``file source 'docs'``) so the error points the
    operator to the right place.
    """
    if not _SUSPECT.search(name):
        return name
    if _has_surrogates(name):
        raise UnsafePathError(f"{origin}: name {describe(name)} is not valid UTF-8")
    if _CONTROL.search(name):
        raise UnsafePathError(f"{origin}: name {describe(name)} contains control characters")
    if name.startswith("/"):
        raise UnsafePathError(f"{origin}: name {describe(name)} is absolute")
    parts = name.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePathError(
                f"{origin}: name {describe(name)} has an empty, '.' or '..' component"
            )
    return name


def safe_segment(value: str, *, what: str) -> str:
    """A single path segment made of a conservative alphabet (client ids, source names)."""
    if not value or not _SEGMENT.match(value) or value in (".", ".."):
        raise UnsafePathError(
            f"{what} {describe(value)} must be letters, digits, '.', '_' or '-' (not '.' or '..')"
        )
    return value


def encode_manifest_path(path: str) -> str:
    """RFC 8493 §2.1.3: percent-encode ``%``, CR and LF (``%`` first, so it is not re-encoded)."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_manifest_path(path: str) -> str:
    """Inverse of :func:`encode_manifest_path`; accepts either hex case as RFC 8493 allows."""
    return re.sub(
        r"%(25|0[dD]|0[aA])",
        lambda m: {"25": "%", "0d": "\r", "0a": "\n"}[m.group(1).lower()],
        path,
    )
