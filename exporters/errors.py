"""The exporter's own exceptions, split by who must act.

``InputError`` means the caller gave something unusable (bad URL, missing directory, unsafe file
name): the CLI answers exit code 2 without a traceback. ``VerificationError`` is for a bag that
does not check out (exit code 1). Anything else is a bug or an outage and is reported the same
one-line way by the CLI, after credentials have been redacted from its text.
"""

from __future__ import annotations


class ExportError(Exception):
    """Base of every error the exporters raise on purpose."""


class InputError(ExportError):
    """Bad arguments, unreachable or malformed sources, unsafe paths: the caller must fix them."""


class UnsafePathError(InputError):
    """A source name that cannot become a payload path without risk (``..``, control chars…)."""


class VerificationError(ExportError):
    """A bag that fails verification; carries the first failing files in its message."""
