"""What the DPO's overview shows, gathered from each capability's services.

Each panel is a plain dict for the template; the page stays useful when a capability has
nothing to show yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gdpr_vault.auth.tokens import Principal
from gdpr_vault.contracts import service as contracts
from gdpr_vault.evidence.checkpoints import latest_checkpoint
from gdpr_vault.evidence.trail import verify_chain
from gdpr_vault.jobs.tables import Job
from gdpr_vault.pagination import PageRequest
from gdpr_vault.timeutil import utc_iso


def remaining_label(seconds: float) -> str:
    """'2 d 4 h left' or '5 h 10 min late': what a DPO reads at a glance."""
    late = seconds < 0
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    else:
        text = f"{minutes} min"
    return f"{text} late" if late else f"{text} left"


async def clients_panel(principal: Principal) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await contracts.list_clients(principal, PageRequest(500, cursor), None, None)
        for client in page["items"]:
            client_contracts = await contracts.list_contracts(client["id"])
            rows.append({**client, "contracts": client_contracts})
        cursor = page["next_cursor"]
        if not cursor:
            return rows


async def evidence_panel() -> dict[str, Any]:
    report = await verify_chain()
    checkpoint = await latest_checkpoint()
    return {
        "chain_ok": report.ok,
        "events": report.checked,
        "broken_at": report.first_broken_seq,
        "reason": report.reason,
        "checkpoint_at": utc_iso(checkpoint["created_at"]) if checkpoint else None,
        "checkpoint_seq": checkpoint["upto_seq"] if checkpoint else None,
    }


async def jobs_panel() -> dict[str, Any]:
    dead = await Job.select().where(Job.status == "dead").order_by(Job.id, ascending=False)
    return {
        "queued": await Job.count().where(Job.status == "queued"),
        "dead": [
            {"id": r["id"], "kind": r["kind"], "error": r["last_error"], "attempts": r["attempts"]}
            for r in dead[:20]
        ],
    }


async def overview(principal: Principal, now: datetime) -> dict[str, Any]:
    return {
        "now": utc_iso(now),
        "clients": await clients_panel(principal),
        "evidence": await evidence_panel(),
        "jobs": await jobs_panel(),
    }
