"""Background jobs as the DPO sees them, dead letters included."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import get
from litestar.params import FromQuery, QueryParameter

from gdpr_vault.auth.guards import dpo_only
from gdpr_vault.jobs.queue import job_out
from gdpr_vault.jobs.tables import Job


@get("/api/v1/jobs", guards=[dpo_only], tags=["jobs"], summary="Jobs, newest first")
async def list_jobs(
    status: FromQuery[Literal["queued", "running", "done", "dead"] | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    query = Job.select().order_by(Job.id, ascending=False).limit(limit)
    if status:
        query = query.where(Job.status == status)
    return [job_out(r) for r in await query]
