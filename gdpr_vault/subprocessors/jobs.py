"""Background work: a published change's notices (fan-out in batches), and an objection
window closing (silence means acceptance)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gdpr_vault.jobs.queue import handler
from gdpr_vault.subprocessors import service


@handler(service.WINDOW_JOB)
async def window_closed(payload: dict[str, Any], now: datetime) -> None:
    """Idempotent: a client that objected, accepted or was resolved meanwhile is left alone."""
    await service.close_window(str(payload["change_client_id"]), now)


@handler(service.NOTIFY_JOB)
async def notify_batch(payload: dict[str, Any], now: datetime) -> None:
    """Idempotent: clients whose notice is already queued and linked are skipped."""
    await service.notify_batch(
        str(payload["change_id"]),
        [str(c) for c in payload["client_ids"]],
        str(payload.get("actor") or "system:subprocessors"),
        now,
    )
