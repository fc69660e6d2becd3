"""Request bodies for notices, receipts and webhook endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from gdpr_vault.inputs import Input


class ManualNoticeIn(Input):
    kind: Literal["manual"]
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=50_000)]
    channels: list[Literal["email", "webhook"]] = msgspec.field(
        default_factory=lambda: ["email", "webhook"]
    )
    requires_receipt: bool = True
    subject_type: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] = "manual"
    subject_id: Annotated[str, msgspec.Meta(max_length=80)] | None = None


class ReceiptIn(Input):
    received_at: datetime | None = None
    method: Literal["api", "dpo_entry"] | None = None
    evidence: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class WebhookEndpointIn(Input):
    url: Annotated[str, msgspec.Meta(min_length=8, max_length=2000)]
    description: Annotated[str, msgspec.Meta(max_length=200)] = ""
