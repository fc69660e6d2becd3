"""Background jobs of the breach capability (imported by gdpr_vault.jobs.worker)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gdpr_vault.breaches import service
from gdpr_vault.jobs.queue import handler


@handler(service.ESCALATION_JOB)
async def escalate(payload: dict[str, Any], now: datetime) -> None:
    """At 50%, 75%, 90% and 100% of a notice period: alert the DPO if clients still wait."""
    await service.escalate(payload, now)
