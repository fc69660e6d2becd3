"""An export killed mid-way resumes from the exporters' journal and completes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import exporters.sources.files as file_sources
from gdpr_vault.jobs.queue import run_one
from gdpr_vault.jobs.tables import Job
from gdpr_vault.reversibility import archive
from gdpr_vault.settings import get_settings
from tests.reversibility.conftest import make_app_data


async def test_export_crash_after_three_files_resumes_and_completes(
    api, tokens, clock, tmp_path: Path, monkeypatch
):
    client_id = tokens.client_a_id
    dpo, client = tokens.header(tokens.dpo), tokens.header(tokens.client_a)
    paths = make_app_data(tmp_path, client_id)
    one_worker = dataclasses.replace(get_settings(), export_workers=1)  # deterministic order
    monkeypatch.setattr(archive, "get_settings", lambda: one_worker)
    await api.put(
        f"/api/v1/clients/{client_id}/reversibility/sources",
        json={"sources": [{"url": f"file://{paths['tenants']}/{{client}}/"}]},
        headers=dpo,
    )
    clock.set(datetime(2027, 12, 6, 9, 0, tzinfo=UTC))
    case = (
        await api.post(
            f"/api/v1/clients/{client_id}/reversibility/cases",
            json={"trigger": "client_request"},
            headers=client,
        )
    ).json()
    case_url = f"/api/v1/clients/{client_id}/reversibility/cases/{case['id']}"
    await api.post(f"{case_url}/request", json={}, headers=client)

    real_copy = file_sources.copy_readinto
    calls = {"n": 0}

    def crash_on_fourth(readinto, writer, **options):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("simulated crash: disk pulled mid-export")
        return real_copy(readinto, writer, **options)

    monkeypatch.setattr(file_sources, "copy_readinto", crash_on_fourth)
    assert await run_one("w1", clock(), 300) is not None
    job = await Job.select().where(Job.kind == "reversibility.export").first()
    assert job["status"] == "queued" and "simulated crash" in job["last_error"]
    status = (await api.get(case_url, headers=client)).json()
    assert status["status"] == "exporting"
    bag = archive.attempt_dir(case["id"], 1) / archive.bag_name(case["id"], 1)
    assert (bag / ".exporters-journal.jsonl").is_file()  # the resumable journal survived

    monkeypatch.setattr(file_sources, "copy_readinto", real_copy)
    clock.set(clock() + timedelta(minutes=5))  # past the retry back-off
    assert await run_one("w2", clock(), 300) is not None
    status = (await api.get(case_url, headers=client)).json()
    assert status["status"] == "export_available", status
    export = status["exports"][0]
    assert export["files"] == 7
    assert export["reused_files"] == 3  # the three files copied before the crash were kept
    assert (await Job.select().where(Job.kind == "reversibility.export").first())["status"] == (
        "done"
    )
    assert not bag.exists()
