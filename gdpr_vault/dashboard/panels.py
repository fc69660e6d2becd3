"""What the DPO's overview shows, gathered from each capability's services.

Each panel is a plain dict for the template; the page stays useful when a capability has
nothing to show yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gdpr_vault.audits import service as audits
from gdpr_vault.auth.tokens import Principal
from gdpr_vault.breaches import service as breaches
from gdpr_vault.contracts import service as contracts
from gdpr_vault.evidence.checkpoints import latest_checkpoint
from gdpr_vault.evidence.trail import verify_chain
from gdpr_vault.jobs.tables import Job
from gdpr_vault.notifications import service as notifications
from gdpr_vault.pagination import PageRequest
from gdpr_vault.reversibility import service as reversibility
from gdpr_vault.subprocessors import service as subprocessors
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


def _clock_css(status: str, fraction: float | None) -> str:
    if status in ("overdue", "notified_late"):
        return "late"
    return "warn" if fraction is not None and fraction >= 0.75 else ""


async def _all_pages(fetch: Any) -> list[dict[str, Any]]:
    """Every item of a paginated service call (fetch takes a PageRequest)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        result = await fetch(PageRequest(500, cursor))
        items.extend(result["items"])
        cursor = result["next_cursor"]
        if not cursor:
            return items


async def breach_panel(now: datetime) -> dict[str, Any]:
    """Every unnotified breach notice with its own contract's clock: red once overdue."""
    open_breaches = await _all_pages(lambda req: breaches.list_breaches(req, "open"))
    rows = []
    for breach in open_breaches:
        pending = await _all_pages(
            lambda req, b=breach: breaches.list_obligations(b["id"], req, now, "unnotified")
        )
        for ob in pending:
            rows.append(
                {
                    "sort": ob["time_left_seconds"] or 0,
                    "css": _clock_css(ob["status"], ob["fraction_elapsed"]),
                    "cells": [
                        breach["id"],
                        ob["client_name"] or ob["client_id"],
                        ob["duration"],
                        ob["deadline_display"],
                        remaining_label(ob["time_left_seconds"] or 0),
                    ],
                }
            )
    rows.sort(key=lambda row: row["sort"])
    return {
        "id": "breaches",
        "title": "Breach notices due (Art. 33(2))",
        "headers": ["Breach", "Client", "Contract clock", "Deadline", "Remaining"],
        "rows": rows,
        "empty": "No breach notice is waiting.",
    }


async def reversibility_panel(now: datetime) -> dict[str, Any]:
    cases = await _all_pages(lambda req: reversibility.list_cases(None, None, req, now))
    rows = []
    for case in cases:
        if case["status"] == "deleted":
            continue
        upcoming = [
            (name, view)
            for name, view in case["deadlines"].items()
            if isinstance(view, dict) and view.get("due")
        ]
        upcoming.sort(key=lambda item: str(item[1]["due"]))
        overdue = any(view.get("overdue") for _, view in upcoming)
        rows.append(
            {
                "css": "late" if overdue else "",
                "cells": [
                    case["client_id"],
                    case["status"].replace("_", " "),
                    ", ".join(
                        f"{name.replace('_', ' ')}: {view.get('display') or view['due']}"
                        for name, view in upcoming
                    )
                    or "—",
                ],
            }
        )
    return {
        "id": "reversibility",
        "title": "End-of-contract cases",
        "headers": ["Client", "Status", "Deadlines"],
        "rows": rows,
        "empty": "No open reversibility case.",
    }


async def objection_windows_panel(now: datetime) -> dict[str, Any]:
    """Published changes: each client whose objection window is open or whose objection waits."""
    changes = await _all_pages(lambda req: subprocessors.list_changes(req, "published"))
    rows = []
    for change in changes:
        clients = await _all_pages(
            lambda req, c=change: subprocessors.list_change_clients(c["id"], req, None, now)
        )
        for client in clients:
            if client["state"] not in ("pending", "notified", "received", "objected"):
                continue
            window = client["window"]
            rows.append(
                {
                    "css": "late" if client["state"] == "objected" else "",
                    "cells": [
                        change["id"],
                        client["client_id"],
                        client["state"],
                        window["display"] or "starts at receipt of the notice",
                        client["earliest_effective_date"] or "—",
                    ],
                }
            )
    return {
        "id": "objection-windows",
        "title": "Sub-processor changes: open objection windows (Art. 28(2))",
        "headers": ["Change", "Client", "State", "Window ends", "Earliest effective date"],
        "rows": rows,
        "empty": "No objection window is open.",
    }


async def findings_panel(now: datetime) -> dict[str, Any]:
    overdue = await _all_pages(lambda req: audits.list_findings(True, None, req, now))
    return {
        "id": "findings",
        "title": "Overdue audit remediation",
        "headers": ["Finding", "Client", "Severity", "Owner", "Due"],
        "rows": [
            {
                "css": "late",
                "cells": [f["id"], f["client_id"], f["severity"], f["owner"], f["due_display"]],
            }
            for f in overdue
        ],
        "empty": "No remediation is overdue.",
    }


async def dead_notices_panel() -> dict[str, Any]:
    dead = await notifications.list_outbox("dead", PageRequest(100, None))
    return {
        "id": "dead-notices",
        "title": "Notices that could not be delivered",
        "headers": ["Message", "Client", "Channel", "Attempts", "Last error"],
        "rows": [
            {
                "css": "late",
                "cells": [
                    m["id"],
                    m["client_id"] or "DPO",
                    m["channel"],
                    m["attempts"],
                    m["last_error"] or "",
                ],
            }
            for m in dead["items"]
        ],
        "empty": "Every notice was delivered or is being retried.",
    }


async def overview(principal: Principal, now: datetime) -> dict[str, Any]:
    return {
        "now": utc_iso(now),
        "extra_panels": [
            await breach_panel(now),
            await objection_windows_panel(now),
            await reversibility_panel(now),
            await findings_panel(now),
            await dead_notices_panel(),
        ],
        "clients": await clients_panel(principal),
        "evidence": await evidence_panel(),
        "jobs": await jobs_panel(),
    }
