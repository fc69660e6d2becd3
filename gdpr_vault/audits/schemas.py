"""Request bodies for audits and findings. Datetimes must carry an offset."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from gdpr_vault.inputs import Input

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
Text = Annotated[str, msgspec.Meta(min_length=3, max_length=5000)]
Area = Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
IdText = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class AuditorIn(Input, kw_only=True):
    name: Name
    email: Email
    firm: Name


class AuditRequestIn(Input, kw_only=True):
    """A client's audit request (or the DPO's, entered on the client's behalf)."""

    contract_id: IdText
    scope: Text
    areas: Annotated[list[Area], msgspec.Meta(min_length=1, max_length=40)]
    auditor: AuditorIn
    kind: Literal["on_site", "documentary"]
    proposed_start: datetime
    proposed_end: datetime


class DecisionIn(Input, kw_only=True):
    """The DPO's decision; a refusal needs a reason. Acceptance may move the dates."""

    decision: Literal["accept", "refuse"]
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=5000)] | None = None
    start: datetime | None = None
    end: datetime | None = None


class ScheduleIn(Input, kw_only=True):
    """Confirm the schedule inside the accepted window (the auditor token ends with it)."""

    start: datetime | None = None
    end: datetime | None = None
    notes: Annotated[str, msgspec.Meta(max_length=5000)] | None = None


class StepIn(Input, kw_only=True):
    """Start, report, remediate or close: an optional note kept with the audit."""

    note: Annotated[str, msgspec.Meta(max_length=5000)] | None = None


class FindingIn(Input, kw_only=True):
    severity: Literal["low", "medium", "high", "critical"]
    description: Text
    owner: Name
    due_at: datetime | None = None


class FindingStatusIn(Input, kw_only=True):
    status: Literal["in_progress", "resolved"]
    evidence: Annotated[str, msgspec.Meta(min_length=3, max_length=5000)] | None = None
