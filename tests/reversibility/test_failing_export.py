"""An export whose job keeps failing shows why on the case, and the DPO retries it once fixed
(found by a black-box review: a client whose tenant folder had gone stayed 'exporting' with a
'running' export, the reason visible only in /jobs, and a dead job could not be requeued)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gdpr_vault.evidence.tables import TrailEvent
from tests.reversibility.conftest import make_app_data
from tests.reversibility.test_end_to_end import run_jobs


async def test_a_dead_export_job_is_shown_and_can_be_retried(api, tokens, clock, tmp_path: Path):
    client_id = tokens.client_a_id
    dpo, client = tokens.header(tokens.dpo), tokens.header(tokens.client_a)
    paths = make_app_data(tmp_path, client_id)
    put = await api.put(
        f"/api/v1/clients/{client_id}/reversibility/sources",
        json={"sources": [{"url": f"file://{paths['tenants']}/{{client}}/"}]},
        headers=dpo,
    )
    assert put.status_code == 200, put.text
    clock.set(datetime(2027, 12, 6, 9, 0, tzinfo=UTC))
    cases = f"/api/v1/clients/{client_id}/reversibility/cases"
    case = (await api.post(cases, json={"trigger": "client_request"}, headers=client)).json()
    case_url = f"{cases}/{case['id']}"
    assert (await api.post(f"{case_url}/request", json={}, headers=client)).status_code == 200
    kept = tmp_path / "moved" / "kept"
    kept.parent.mkdir()
    shutil.move(paths["tenants"] / client_id, kept)  # the tenant folder goes missing

    for _ in range(8):  # every attempt fails; backoff is at most an hour
        await run_jobs(clock)
        clock.set(clock() + timedelta(hours=1))
    export = (await api.get(case_url, headers=client)).json()["exports"][0]
    assert export["status"] == "failed"
    job = export["job"]
    assert job["status"] == "dead" and job["attempts"] == job["max_attempts"]
    assert "does not exist" in job["last_error"]
    assert job["retry"] == f"/api/v1/jobs/{job['id']}/retry"

    assert (await api.post(job["retry"], headers=client)).status_code == 403
    # The DPO fixes the cause: here by pointing the source at where the data now is. Sources
    # are locked while an export runs, not once its job has given up.
    kept.rename(kept.parent / client_id)
    moved = await api.put(
        f"/api/v1/clients/{client_id}/reversibility/sources",
        json={"sources": [{"url": f"file://{kept.parent}/{{client}}/"}]},
        headers=dpo,
    )
    assert moved.status_code == 200, moved.text
    events = await TrailEvent.count().where(TrailEvent.action == "job.retried")
    retried = await api.post(job["retry"], headers=dpo)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "queued" and retried.json()["attempts"] == 0
    assert await TrailEvent.count().where(TrailEvent.action == "job.retried") == events + 1
    again = await api.post(job["retry"], headers=dpo)
    assert again.status_code == 409 and again.json()["rule"] == "job-not-dead"
    unknown = await api.post("/api/v1/jobs/job_nope/retry", headers=dpo)
    assert unknown.status_code == 404
    assert await TrailEvent.count().where(TrailEvent.action == "job.retried") == events + 1

    await run_jobs(clock)
    done = (await api.get(case_url, headers=client)).json()
    assert done["status"] == "export_available"
    assert done["exports"][0]["status"] == "available" and done["exports"][0]["job"] is None


async def test_destruction_without_any_source_certifies_nothing(api, tokens, clock):
    client_id = tokens.client_a_id  # no sources configured
    client = tokens.header(tokens.client_a)
    clock.set(datetime(2027, 12, 6, 9, 0, tzinfo=UTC))
    cases = f"/api/v1/clients/{client_id}/reversibility/cases"
    case = (await api.post(cases, json={"trigger": "client_request"}, headers=client)).json()
    case_url = f"{cases}/{case['id']}"
    asked = await api.post(f"{case_url}/request", json={"choice": "destruction"}, headers=client)
    assert asked.status_code == 200, asked.text
    for _ in range(3):
        await run_jobs(clock)
        clock.set(clock() + timedelta(hours=1))
    after = (await api.get(case_url, headers=client)).json()
    assert after["status"] != "deleted"
    assert not after["deletion"].get("sources") and "certificate" not in str(after["deletion"])
