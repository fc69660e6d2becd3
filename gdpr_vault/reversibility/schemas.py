"""Request bodies for sources, cases, requests, choices, integrity answers and exclusions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from gdpr_vault.inputs import Input

IdText = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Url = Annotated[str, msgspec.Meta(min_length=6, max_length=4000)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
# One line that ends up on a signed certificate or a printable page: no control characters or
# line separators (an ESC could repaint a terminal, a CR LF forge a line of the certificate's
# text), and not blank. "(?!\n)": Python's "$" also matches before a final newline.
Line = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=500,
        pattern=r"^(?=.*\S)[^\x00-\x1f\x7f-\x9f\u2028\u2029]+$(?!\n)",
    ),
]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]
Trigger = Literal["termination", "non_renewal", "client_request"]
Choice = Literal["restitution", "destruction"]


class _In(Input, kw_only=True):
    pass


class SourceIn(_In):
    url: Url


class SourcesIn(_In):
    """The whole source list of a client (replaces the previous one)."""

    sources: Annotated[list[SourceIn], msgspec.Meta(min_length=1, max_length=50)]
    tenant: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class ExclusionIn(_In):
    what: Line
    legal_reason: Line


class CaseOpenIn(_In):
    trigger: Trigger
    client_id: IdText | None = None  # DPO route only; the client route takes it from the path
    contract_id: IdText | None = None
    contract_end: date | None = None  # default: the contract's end date
    termination_notified_at: datetime | None = None
    exclusions: Annotated[list[ExclusionIn], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )


class RequestIn(_In):
    received_at: datetime | None = None  # default: now (a request through the API)
    form: Short | None = None  # e.g. "registered letter AR 1A 234 567 8901 2"
    choice: Choice | None = None


class ChoiceIn(_In):
    choice: Choice


class AnomalyIn(_In):
    files: Annotated[list[Line], msgspec.Meta(min_length=1, max_length=1000)]
    description: Text
