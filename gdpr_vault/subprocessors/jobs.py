"""Background work: an objection window closes (silence means acceptance)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gdpr_vault.jobs.queue import handler
from gdpr_vault.subprocessors import service


@handler(service.WINDOW_JOB)
async def window_closed(payload: dict[str, Any], now: datetime) -> None:
    """Idempotent: a client that objected, accepted or was resolved meanwhile is left alone."""
    await service.close_window(str(payload["change_client_id"]), now)
