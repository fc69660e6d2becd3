"""Background jobs as the DPO sees them, dead letters included."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery, QueryParameter

from gdpr_vault.auth.guards import dpo_only
from gdpr_vault.jobs.queue import job_out, retry_dead
from gdpr_vault.jobs.tables import Job
from gdpr_vault.web import caller, now_of


@get("/api/v1/jobs", guards=[dpo_only], tags=["jobs"], summary="Jobs, newest first")
async def list_jobs(
    status: FromQuery[Literal["queued", "running", "done", "dead"] | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    query = Job.select().order_by(Job.id, ascending=False).limit(limit)
    if status:
        query = query.where(Job.status == status)
    return [job_out(r) for r in await query]


@post(
    "/api/v1/jobs/{job_id:str}/retry",
    guards=[dpo_only],
    tags=["jobs"],
    summary="Requeue a dead job once its cause is fixed (a fresh attempt budget)",
    status_code=200,
)
async def retry_job(request: Request, job_id: FromPath[str]) -> dict[str, Any]:
    return await retry_dead(job_id, actor=caller(request).actor, now=now_of(request))
