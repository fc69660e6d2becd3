"""OpenSafe end to end: termination → request → export → download → silence → certified deletion
with zero residue on real files, PostgreSQL and S3 over HTTP → certificate checks → crypto-erase."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import tarfile
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bagit
import pytest

from exporters import verify_bag
from gdpr_vault.auth.service import issue_token
from gdpr_vault.crypto import keys as data_keys
from gdpr_vault.crypto.stream import DecryptionError, decrypt_chunks
from gdpr_vault.evidence.keys import service_signing_key
from gdpr_vault.evidence.tables import TrailEvent
from gdpr_vault.evidence.verify import verify_path
from gdpr_vault.jobs.queue import run_one
from gdpr_vault.notifications.tables import Notice
from gdpr_vault.reversibility import archive
from gdpr_vault.reversibility.certificate import certificate_dir
from gdpr_vault.reversibility.tables import RevSource
from tests.reversibility.conftest import make_app_data


async def run_jobs(clock) -> list[str]:
    ran = []
    while (job := await run_one("test-worker", clock(), 300)) is not None:
        ran.append(job)
    return ran


def seed_s3(s3, bucket: str, tenant: str) -> None:
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    prefix = f"tenants/{tenant}/"
    s3.put_object(Bucket=bucket, Key=prefix + "a.txt", Body=b"version one")
    s3.put_object(Bucket=bucket, Key=prefix + "a.txt", Body=b"version two, longer")
    s3.put_object(Bucket=bucket, Key=prefix + "gone.txt", Body=b"deleted later")
    s3.delete_object(Bucket=bucket, Key=prefix + "gone.txt")  # a delete marker
    s3.put_object(Bucket=bucket, Key=prefix + "dir/c.bin", Body=b"c" * 5000)
    s3.put_object(Bucket=bucket, Key="tenants/other-tenant/keep.txt", Body=b"not ours")


async def test_opensafe_reversibility_end_to_end(
    api, tokens, clock, tmp_path: Path, s3, s3_endpoint, pg_tenant_table
):
    client_id = tokens.client_a_id
    dpo = tokens.header(tokens.dpo)
    client = tokens.header(tokens.client_a)
    paths = make_app_data(tmp_path, client_id)
    bucket = "rev-e2e"
    seed_s3(s3, bucket, client_id)
    secret = "s3cr3t-never-shown"
    urls = [
        f"file://{paths['tenants']}/{{client}}/",
        f"s3://AKIATESTREVERSIBLE:{secret}@{bucket}/tenants/{{client}}/"
        f"?endpoint_url={s3_endpoint}&region=us-east-1",
        f"sqlite://{paths['sqlite']}?table=employees:tenant_id&table=badges:tenant_id",
    ]
    pg_table, pg_dsn = pg_tenant_table
    if pg_table is None:
        warnings.warn(f"PostgreSQL part skipped: {pg_dsn}", stacklevel=1)
    else:
        import psycopg

        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            for n in range(7):
                conn.execute(
                    f"INSERT INTO {pg_table} (tenant_id, item, amount) VALUES (%s, %s, %s)",
                    (client_id, f"item {n}", n * 1.5),
                )
            conn.execute(
                f"INSERT INTO {pg_table} (tenant_id, item) VALUES ('other-tenant', 'keep')"
            )
        urls.append(f"{pg_dsn}?table={pg_table}:tenant_id#orders")

    # The DPO configures the sources: credentials sealed, never shown back.
    answer = await api.put(
        f"/api/v1/clients/{client_id}/reversibility/sources",
        json={"sources": [{"url": u} for u in urls]},
        headers=dpo,
    )
    assert answer.status_code == 200, answer.text
    assert secret not in answer.text and "***" in answer.text
    assert all(secret not in r["url_sealed"] for r in await RevSource.select())
    refused = await api.put(
        f"/api/v1/clients/{client_id}/reversibility/sources",
        json={"sources": [{"url": urls[0]}]},
        headers=client,
    )
    assert refused.status_code == 403

    # Termination notified; the case opens.
    clock.set(datetime(2027, 11, 15, 9, 0, tzinfo=UTC))
    opened = await api.post(
        "/api/v1/reversibility/cases",
        json={
            "client_id": client_id,
            "trigger": "termination",
            "termination_notified_at": "2027-11-15T10:00:00+01:00",
            "exclusions": [
                {"what": "invoices", "legal_reason": "Code de commerce L123-22: 10 years"}
            ],
        },
        headers=dpo,
    )
    assert opened.status_code == 201, opened.text
    case = opened.json()
    case_url = f"/api/v1/clients/{client_id}/reversibility/cases/{case['id']}"
    # Two months end on Saturday 15 January 2028: extended to Monday 17th (art. 642).
    assert case["deadlines"]["delete_or_return_choice"]["display"].startswith("2028-01-17")

    # Too early: 30 days before 2027-12-31 at the earliest (Art. 13.2).
    clock.set(datetime(2027, 11, 25, 9, 0, tzinfo=UTC))
    early = await api.post(f"{case_url}/request", json={}, headers=client)
    assert early.status_code == 422
    assert early.json()["rule"] == "request-window"
    assert "Art. 13.2" in early.json()["detail"]
    confirm_too_soon = await api.post(f"{case_url}/confirm", headers=client)
    assert confirm_too_soon.status_code == 409
    assert confirm_too_soon.json()["rule"] == "reversibility-transition:confirm"

    # The request, on Monday 6 December 2027; the export job was queued with it.
    clock.set(datetime(2027, 12, 6, 9, 0, tzinfo=UTC))
    requested = await api.post(
        f"{case_url}/request", json={"choice": "restitution"}, headers=client
    )
    assert requested.status_code == 200, requested.text
    assert requested.json()["deadlines"]["export_deadline"]["display"] == (
        "2028-01-05 24:00 (Europe/Paris)"
    )
    await run_jobs(clock)
    status = (await api.get(case_url, headers=client)).json()
    assert status["status"] == "export_available", status
    export = status["exports"][0]
    assert export["files"] > 0 and export["tagmanifest_sha256"]
    window = status["deadlines"]["integrity_check_window"]
    assert window["display"] == "2027-12-20 24:00 (Europe/Paris)"
    assert status["deadlines"]["deletion_deadline"]["display"] == "2028-01-05 24:00 (Europe/Paris)"
    assert window["explanation"] and window["terms_version"] == 1
    notices = await Notice.select().where(Notice.kind == "export.available")
    assert len(notices) == 1
    assert export["tagmanifest_sha256"] in notices[0]["facts_json"]
    # No plaintext bag left behind: only the encrypted archive and its summary.
    attempt = archive.attempt_dir(case["id"], 1)
    assert not (attempt / archive.bag_name(case["id"], 1)).exists()
    assert (attempt / archive.ARCHIVE).read_bytes()[:5] == b"GVENC"

    # Download: client token + expiring link; decrypted on the fly; the bag validates.
    link = (await api.get(f"{case_url}/download-link", headers=client)).json()
    assert link["tagmanifest_sha256"] == export["tagmanifest_sha256"]
    path_and_query = link["url"].split("127.0.0.1:8000", 1)[1]
    no_link = await api.get(f"{case_url}/download", headers=client)
    assert no_link.status_code == 403
    downloaded = await api.get(path_and_query, headers=client)
    assert downloaded.status_code == 200, downloaded.text
    with tarfile.open(fileobj=io.BytesIO(downloaded.content)) as tar:
        tar.extractall(tmp_path / "received", filter="data")
    bag_dir = tmp_path / "received" / archive.bag_name(case["id"], 1)
    report = verify_bag(bag_dir, [service_signing_key().public_key])
    assert report.ok, report.failures
    bagit.Bag(str(bag_dir)).validate()
    exported = {p.relative_to(bag_dir).as_posix() for p in bag_dir.rglob("*") if p.is_file()}
    assert "data/s3/rev-e2e/a.txt" in exported and "data/s3/rev-e2e/dir/c.bin" in exported
    assert (bag_dir / "data/s3/rev-e2e/a.txt").read_bytes() == b"version two, longer"
    assert "data/sql/app/employees.csv" in exported
    if pg_table is not None:
        assert any(p.startswith("data/sql/orders/") and p.endswith(".jsonl") for p in exported)
    assert not any("escape-link" in p for p in exported)
    downloads = await TrailEvent.select().where(
        TrailEvent.action == "reversibility.export.downloaded"
    )
    assert len(downloads) == 1 and downloads[0]["actor"].startswith("client:")
    assert json.loads(downloads[0]["details_json"])["principal"].startswith("client:")

    auditor = await issue_token(
        role="auditor",
        client_id=client_id,
        label="aud",
        expires_at=clock() + timedelta(days=5),
        actor="t",
        now=clock(),
    )
    barred = await api.get(f"{case_url}/download-link", headers=tokens.header(auditor["token"]))
    assert barred.status_code == 403

    # Keep a copy of the encrypted export to prove later that it can no longer be read.
    kept = tmp_path / "kept.tar.gvenc"
    shutil.copyfile(attempt / archive.ARCHIVE, kept)
    data_key_id = export["data_key_id"]
    readable = b"".join(decrypt_chunks(kept, (await data_keys.load(client_id, data_key_id)).key))
    assert readable == downloaded.content  # the vault's copy is readable while the key lives

    # Silence over the 10 business days: nothing happens before the window closes…
    clock.set(datetime(2027, 12, 20, 22, 0, tzinfo=UTC))
    await run_jobs(clock)
    assert (await api.get(case_url, headers=client)).json()["status"] == "export_available"
    early_delete = await api.post(f"{case_url}/deletion", headers=dpo)
    assert early_delete.status_code == 409
    assert early_delete.json()["rule"] == "reversibility-deletion:integrity-window-open"
    # …then the deletion runs.
    clock.set(datetime(2027, 12, 21, 8, 0, tzinfo=UTC))
    await run_jobs(clock)
    status = (await api.get(case_url, headers=client)).json()
    assert status["status"] == "deleted", status
    assert status["integrity"] == "silent"

    # Zero residue, and the other tenant untouched, on every source.
    assert not (paths["tenants"] / client_id).exists()
    assert (paths["tenants"] / "other-tenant" / "keep.txt").exists()
    assert paths["outside"].exists()  # a symlink's target outside the root is never touched
    listing = s3.list_object_versions(Bucket=bucket, Prefix=f"tenants/{client_id}/")
    assert not listing.get("Versions") and not listing.get("DeleteMarkers")
    assert s3.get_object(Bucket=bucket, Key="tenants/other-tenant/keep.txt")["Body"].read()
    with sqlite3.connect(paths["sqlite"]) as conn:
        for table in ("employees", "badges"):
            left = conn.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = ?", (client_id,))
            assert left.fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM employees").fetchone()[0] == 1
    if pg_table is not None:
        import psycopg

        with psycopg.connect(pg_dsn) as conn:
            counts = conn.execute(
                f"SELECT tenant_id, count(*) FROM {pg_table} GROUP BY tenant_id"
            ).fetchall()
        assert counts == [("other-tenant", 1)]

    # The certificate: signed, counts right, verifies offline; a flipped byte fails.
    envelope = (await api.get(f"{case_url}/certificate", headers=client)).json()
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    folder = certificate_dir(case["id"])
    predicate = json.loads((folder / "certificate.json").read_text())
    by_kind = {s["kind"]: s for s in predicate["sources"]}
    assert by_kind["s3"]["counts"] == {
        "objects": 3,
        "versions": 4,
        "delete_markers": 1,
        "bytes": len(b"version one") + len(b"version two, longer") + 13 + 5000,
    }
    assert by_kind["files"]["counts"]["files"] == 7
    assert by_kind["files"]["counts"]["symlinks"] == 1
    sql_rows = sum(s["counts"]["rows"] for s in predicate["sources"] if s["kind"] == "sql")
    assert sql_rows == 10 + (7 if pg_table is not None else 0)
    assert all(s["verification"]["ok"] for s in predicate["sources"])
    assert secret not in json.dumps(predicate)
    assert predicate["verification"]["result"] == "pass"
    assert predicate["client"]["legalName"] == "Clinique des Tilleuls SAS"
    assert predicate["contract"]["reference"] == "CTR-2026-001"
    reasons = [e["legalReason"] for e in predicate["exclusions"]]
    assert any("Art. 13.4" in r for r in reasons) and any("L123-22" in r for r in reasons)
    assert predicate["cryptoErase"]["data_key_id"] == data_key_id
    assert predicate["backups"]["source_backup_sets_expire_by"]
    assert predicate["deadline"]["met"] is True
    checked = verify_path(folder / "certificate.dsse.json")
    assert checked["ok"], checked
    assert checked["predicate_type"] == "https://gdpr-vault.dev/deletion-certificate/v1"
    assert checked["files_checked"] == ["certificate.json"]
    tampered = tmp_path / "tampered"
    shutil.copytree(folder, tampered)
    body = bytearray((tampered / "certificate.json").read_bytes())
    body[40] ^= 1
    (tampered / "certificate.json").write_bytes(bytes(body))
    assert not verify_path(tampered / "certificate.dsse.json")["ok"]
    page = await api.get(f"{case_url}/certificate.html", headers=client)
    assert page.status_code == 200 and "Certificate of sanitization" in page.text
    assert await Notice.exists().where(Notice.kind == "deletion.certificate")

    # Crypto-erase: the key is gone, the kept copy of the export cannot be decrypted any more.
    with pytest.raises(data_keys.DataKeyDestroyed):
        await data_keys.load(client_id, data_key_id)
    assert not (attempt / archive.ARCHIVE).exists()
    with pytest.raises(DecryptionError):
        b"".join(decrypt_chunks(kept, b"\x00" * 32))
    gone = await api.get(path_and_query, headers=client)
    assert gone.status_code in (403, 409)  # link expired, and the export is erased anyway

    # The trail holds no personal data and outlives the deletion.
    trail_text = json.dumps(
        [dict(r) for r in await TrailEvent.select()], default=str, ensure_ascii=False
    )
    assert secret not in trail_text and "note 0 for" not in trail_text
    assert "reversibility.certificate.issued" in trail_text


async def test_anomaly_reopens_the_export_and_keeps_both_manifests(
    api, tokens, clock, tmp_path: Path
):
    client_id = tokens.client_a_id
    dpo, client = tokens.header(tokens.dpo), tokens.header(tokens.client_a)
    paths = make_app_data(tmp_path, client_id)
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
    assert (await api.post(f"{case_url}/request", json={}, headers=client)).status_code == 200
    await run_jobs(clock)
    clock.set(datetime(2027, 12, 8, 9, 0, tzinfo=UTC))
    before = (await api.get(case_url, headers=client)).json()
    events = await TrailEvent.count()
    good = "data/files/tenants/docs/note-1.txt"
    for files, field, rule in [
        (["../../etc/passwd"], "files[0]", "anomaly-file"),
        (["/etc/passwd"], "files[0]", "anomaly-file"),
        ([good, "data/files/tenants/docs/absent.txt"], "files[1]", "anomaly-file"),
        ([good, "data/files/a\nb\u001b[31mRED"], "files[1]", "json-type"),
    ]:
        refused = await api.post(
            f"{case_url}/anomalies", json={"files": files, "description": "x"}, headers=client
        )
        status = 400 if rule == "json-type" else 422  # control characters: refused as read
        assert refused.status_code == status, (files, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert (problem["field"], problem["rule"]) == (field, rule), (files, problem)
    for exclusion in [
        {"what": "a\u001b[2J", "legal_reason": "b"},
        {"what": "logs", "legal_reason": "b\r\nInjected: yes"},
        {"what": "a\n", "legal_reason": "r"},  # "$" alone lets a final newline through
        {"what": " ", "legal_reason": "r"},
    ]:
        refused = await api.post(f"{case_url}/exclusions", json=exclusion, headers=dpo)
        assert refused.status_code == 400, (exclusion, refused.text)
        assert refused.json()["field"] in ("what", "legal_reason"), refused.json()
    assert (await api.get(case_url, headers=client)).json() == before  # nothing changed
    assert await TrailEvent.count() == events
    reported = await api.post(
        f"{case_url}/anomalies",
        json={"files": [good], "description": "truncated"},
        headers=client,
    )
    assert reported.status_code == 200, reported.text
    assert reported.json()["status"] == "anomaly_reported"
    await run_jobs(clock)
    status = (await api.get(case_url, headers=client)).json()
    assert status["status"] == "export_available"
    assert [e["status"] for e in status["exports"]] == ["superseded", "available"]
    assert status["exports"][1]["files_concerned"] == ["data/files/tenants/docs/note-1.txt"]
    for n in (1, 2):
        assert (archive.attempt_dir(case["id"], n) / archive.MANIFEST).is_file()
    # The window restarts with the new export; a confirmation lets the deletion run at once.
    assert status["deadlines"]["integrity_check_window"]["display"].startswith("2027-12-22")
    confirmed = await api.post(f"{case_url}/confirm", headers=client)
    assert confirmed.json()["status"] == "integrity_confirmed"
    late = await api.post(
        f"{case_url}/anomalies", json={"files": ["x"], "description": "late?"}, headers=client
    )
    assert late.status_code == 409  # confirmed inside the window: nothing left to report
    await run_jobs(clock)
    status = (await api.get(case_url, headers=client)).json()
    assert status["status"] == "deleted"
    assert not (paths["tenants"] / client_id).exists()
