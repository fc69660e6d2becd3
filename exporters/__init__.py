"""Standalone, streaming exports of a client's data into signed BagIt bags.

No web framework, no ORM: the service calls :func:`pack` from a background job and
:func:`verify_bag` from ``gdpr-vault verify``; operators use ``python -m exporters``.
"""

from exporters.errors import ExportError, InputError, UnsafePathError, VerificationError
from exporters.pack import ManifestEntry, PackResult, Progress, open_sources, pack
from exporters.signing import SigningKey
from exporters.verify import VerifyReport, verify_bag

__all__ = [
    "ExportError",
    "InputError",
    "ManifestEntry",
    "PackResult",
    "Progress",
    "SigningKey",
    "UnsafePathError",
    "VerificationError",
    "VerifyReport",
    "open_sources",
    "pack",
    "verify_bag",
]
