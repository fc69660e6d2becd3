"""Request bodies for the breach log, corrections, fan-out, notices and closure."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from gdpr_vault.inputs import Input

Title = Annotated[str, msgspec.Meta(min_length=3, max_length=200)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]
Item = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Items = Annotated[list[Item], msgspec.Meta(max_length=200)]
Count = Annotated[int, msgspec.Meta(ge=0, le=10_000_000_000)]
Reason = Annotated[str, msgspec.Meta(min_length=3, max_length=2000)]
Nature = Literal["confidentiality", "integrity", "availability"]
Origin = Literal[
    "internal_malicious",
    "internal_accidental",
    "external_malicious",
    "external_accidental",
    "unknown",
]
IdText = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Channel = Literal["email", "webhook"]


class ContactPointIn(Input, kw_only=True):
    """Art. 33(3)(b): the processor's DPO or other contact point."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    email: Annotated[str, msgspec.Meta(max_length=320)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    role: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class ClientFiguresIn(Input, kw_only=True):
    """One client's own share of the incident (only that client ever sees it)."""

    client_id: IdText
    data_subjects_approx: Count | None = None
    records_approx: Count | None = None


class BreachFactsIn(Input, kw_only=True):
    """What is known of the incident. Datetimes must carry an offset."""

    title: Title
    aware_at: datetime
    detection_method: Annotated[str, msgspec.Meta(min_length=3, max_length=1000)]
    occurred_at: datetime | None = None
    ended_at: datetime | None = None
    ongoing: bool | None = None
    description: Text | None = None
    origin: Origin | None = None
    nature: Annotated[list[Nature], msgspec.Meta(max_length=3)] = []
    systems: Items = []
    data_categories: Items = []
    special_categories: Items = []
    subject_categories: Items = []
    data_subjects_approx: Count | None = None
    records_approx: Count | None = None
    per_client: Annotated[list[ClientFiguresIn], msgspec.Meta(max_length=100_000)] = []
    likely_consequences: Text | None = None
    measures_taken: Items = []
    measures_proposed: Items = []
    contact_point: ContactPointIn | None = None
    cross_border: bool | None = None
    member_states: Annotated[
        list[Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$")]], msgspec.Meta(max_length=40)
    ] = []
    data_unintelligible: bool | None = None
    data_unintelligible_details: Text | None = None


class CorrectionIn(Input):
    """A new version of the facts: ``changes`` is merged into the current ones."""

    changes: dict[str, Any]
    reason: Reason


class AffectedClientIn(Input, kw_only=True):
    client_id: IdText
    contract_id: IdText | None = None


class MarkClientsIn(Input):
    clients: Annotated[list[AffectedClientIn], msgspec.Meta(min_length=1, max_length=100_000)]


class NoticeIn(Input, kw_only=True):
    """Send the initial notice or a follow-up, to some clients or (``clients`` omitted) to all."""

    phase: Literal["initial", "followup"]
    clients: Annotated[list[IdText], msgspec.Meta(min_length=1, max_length=100_000)] | None = None
    message: Text | None = None
    late_reason: Reason | None = None
    channels: Annotated[list[Channel], msgspec.Meta(min_length=1, max_length=2)] = msgspec.field(
        default_factory=lambda: ["email", "webhook"]
    )


class CloseIn(Input, kw_only=True):
    remedial_actions: Annotated[list[Item], msgspec.Meta(min_length=1, max_length=200)]
    summary: Annotated[str, msgspec.Meta(min_length=3, max_length=20_000)]
