"""Request bodies of the register: an Art. 30 entry, its links, and the reason for each change."""

from __future__ import annotations

from typing import Annotated

import msgspec

from gdpr_vault.inputs import Input

Reason = Annotated[str, msgspec.Meta(min_length=3, max_length=2000)]
Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
# "(?!\n)": Python's "$" also matches before a final newline, which would let one through.
Item = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=r"^[^\r\n]*$(?!\n)")]
Text = Annotated[str, msgspec.Meta(max_length=4000)]
Items = Annotated[list[Item], msgspec.Meta(max_length=200)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class TransferIn(Input):
    country: Annotated[str, msgspec.Meta(min_length=2, max_length=2)]
    recipient: Annotated[str, msgspec.Meta(max_length=300)] = ""
    subprocessor_id: Id | None = None
    safeguard: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    safeguard_reference: Annotated[str, msgspec.Meta(max_length=300)] = ""


class SubprocessorLinkIn(Input):
    subprocessor_id: Id
    activities: Annotated[str, msgspec.Meta(max_length=1000)] = ""
    client_id: Id | None = None  # None: for every client of the activity (part of the version)


class ActivityIn(Input):
    """A whole entry: creating one, or replacing it (PUT) as a new version."""

    reference: Reference
    name: Name
    reason: Reason
    description: Text = ""
    processing_operations: Items = []
    purposes: Items = []
    data_subject_categories: Items = []
    data_categories: Items = []
    special_categories: Items = []
    recipients_internal: Items = []
    recipients_external: Items = []
    retention: Text = ""
    hosting_countries: Annotated[list[str], msgspec.Meta(max_length=50)] = []
    transfers: Annotated[list[TransferIn], msgspec.Meta(max_length=100)] = []
    security_measures: Items = []
    availability_restoration: Text = ""
    security_testing: Text = ""
    # None leaves the links as they are (PUT); a list sets them exactly.
    client_ids: Annotated[list[Id], msgspec.Meta(max_length=10000)] | None = None
    subprocessors: Annotated[list[SubprocessorLinkIn], msgspec.Meta(max_length=200)] = []


class ClientLinkIn(Input):
    client_id: Id
    reason: Reason


class SubprocessorLinkChangeIn(Input):
    subprocessor_id: Id
    reason: Reason
    activities: Annotated[str, msgspec.Meta(max_length=1000)] = ""
    client_id: Id | None = None


class ReasonIn(Input):
    reason: Reason
