"""The two long jobs of a case: the export and the certified deletion. Both are idempotent.

Export: the bag is packed by ``exporters.pack`` (resumable journal), encrypted under the client's
data key, the plaintext removed; then the case becomes ``export_available``, the client is
notified with an expiring link and the manifest digest, and the deletion is scheduled.

Deletion: each source is deleted and rescanned (results saved after each source, so a crash
never repeats or forgets one), then the data key is crypto-erased, then the certificate is
signed and sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread

from gdpr_vault import db
from gdpr_vault.contracts import service as contracts
from gdpr_vault.crypto import keys as data_keys
from gdpr_vault.evidence.keys import service_signing_key
from gdpr_vault.ids import new_id
from gdpr_vault.jobs.queue import handler
from gdpr_vault.notifications import service as notifications
from gdpr_vault.reversibility import archive, rules
from gdpr_vault.reversibility import certificate as certificates
from gdpr_vault.reversibility.deletion import DeletionError, delete_source, verify_source
from gdpr_vault.reversibility.service import (
    DELETE_JOB,
    EXPORT_JOB,
    _case_row,
    _deadlines,
    _event,
    _schedule_deletion,
    _terms,
    _update,
    check_sources_still_isolated,
    download_url,
    source_specs,
)
from gdpr_vault.reversibility.sources import SourceError
from gdpr_vault.reversibility.tables import RevCase, RevExport
from gdpr_vault.settings import get_settings
from gdpr_vault.timeutil import utc_iso

ACTOR = "system:reversibility"


class NoSources(RuntimeError):
    pass


# -- export -------------------------------------------------------------------------------------


async def _export_row(case_id: str, attempt: int) -> dict[str, Any] | None:
    return (
        await RevExport.select()
        .where((RevExport.case_id == case_id) & (RevExport.attempt == attempt))
        .first()
    )


@handler(EXPORT_JOB)
async def run_export(payload: dict[str, Any], now: datetime) -> None:
    case_id, attempt = payload["case_id"], int(payload["attempt"])
    row = await _case_row(case_id)
    export = await _export_row(case_id, attempt)
    if (
        export is None
        or export["status"] in ("available", "superseded", "erased")
        or row["export_attempt"] != attempt
        or row["status"] not in ("requested", "anomaly_reported", "exporting")
        or row["choice"] == "destruction"
    ):
        return  # done already, replaced, or no longer wanted
    specs = await source_specs(row["client_id"])
    if not specs:
        raise NoSources(f"client {row['client_id']} has no export sources configured")
    async with db.transaction():
        key = await data_keys.get_or_create(row["client_id"], now)
        if row["status"] != "exporting":
            await _update(
                case_id, {RevCase.status: rules.next_state(row["status"], "start_export")}, now
            )
            await _event(
                row, "reversibility.export.started", ACTOR, now, details={"attempt": attempt}
            )
        await RevExport.update(
            {RevExport.status: "running", RevExport.data_key_id: key.key_id}
        ).where(RevExport.id == export["id"])
    contract = await contracts.get_contract(row["client_id"], row["contract_id"])
    tenants = {s.tenant for s in specs}
    summary = await anyio.to_thread.run_sync(
        lambda: archive.build_export(
            urls=[s.url for s in specs],
            tenant=next(iter(tenants)),
            case_id=case_id,
            attempt=attempt,
            contract_reference=contract["reference"],
            created=export["created_at"],
            data_key=key.key,
            data_key_id=key.key_id,
        )
    )
    await _export_available(row, export, summary, now)


async def _export_available(
    row: Mapping[str, Any], export: Mapping[str, Any], summary: Mapping[str, Any], now: datetime
) -> None:
    case_id, attempt = row["id"], export["attempt"]
    async with db.transaction():
        current = await _case_row(case_id)
        target = rules.next_state(current["status"], "export_done")
        contract_row, terms = await _terms(current)
        version = contract_row["current_version"]
        deadlines = _deadlines(current)
        first = current["first_available_at"] or now
        window = rules.clock(terms, "integrity_check_window", now)
        if window.due is not None:
            deadlines["integrity_check_window"] = window.to_dict(version)
        if "deletion_deadline" not in deadlines:
            deadlines["deletion_deadline"] = rules.clock(terms, "deletion_deadline", first).to_dict(
                version
            )
        await RevExport.update(
            {
                RevExport.status: "superseded",
            }
        ).where((RevExport.case_id == case_id) & (RevExport.status == "available"))
        await RevExport.update(
            {
                RevExport.status: "available",
                RevExport.tagmanifest_sha256: summary["tagmanifest_sha256"],
                RevExport.payload_oxum: summary["payload_oxum"],
                RevExport.files: summary["files"],
                RevExport.bytes: summary["bytes"],
                RevExport.reused_files: summary["reused_files"],
                RevExport.archive_sha256: summary["archive_sha256"],
                RevExport.archive_bytes: summary["archive_bytes"],
                RevExport.signature_keyid: summary["signature_keyid"],
                RevExport.available_at: now,
            }
        ).where(RevExport.id == export["id"])
        await _update(
            case_id,
            {
                RevCase.status: target,
                RevCase.available_at: now,
                RevCase.first_available_at: first,
                RevCase.integrity: None,
                RevCase.integrity_at: None,
                RevCase.deadlines_json: json.dumps(deadlines, sort_keys=True),
            },
            now,
        )
        run_at = rules.deletion_run_at(deadlines, now, confirmed=False)
        if run_at is not None:
            await _schedule_deletion(case_id, run_at, f"available-{attempt}")
        await _event(
            current,
            "reversibility.export.available",
            ACTOR,
            now,
            details={
                "attempt": attempt,
                "tagmanifest_sha256": summary["tagmanifest_sha256"],
                "files": summary["files"],
                "bytes": summary["bytes"],
                "archive_sha256": summary["archive_sha256"],
                "data_key_id": summary["data_key_id"],
                "deletion_scheduled_at": utc_iso(run_at),
            },
        )
        url, expires = download_url(current["client_id"], case_id, attempt, now)
        await notifications.queue_notice(
            client_id=current["client_id"],
            kind="export.available",
            subject_type="reversibility_case",
            subject_id=case_id,
            facts={
                "case_id": case_id,
                "attempt": attempt,
                "download_url": url,
                "link_expires_at": utc_iso(expires),
                "tagmanifest_sha256": summary["tagmanifest_sha256"],
                "files": summary["files"],
                "bytes": summary["bytes"],
                "payload_oxum": summary["payload_oxum"],
                "signature_keyid": summary["signature_keyid"],
                "integrity_window": deadlines.get("integrity_check_window"),
                "deletion_deadline": deadlines.get("deletion_deadline"),
                "status_url": f"{get_settings().public_base_url.rstrip('/')}/api/v1/clients/"
                f"{current['client_id']}/reversibility/cases/{case_id}",
            },
            now=now,
            actor=ACTOR,
            requires_receipt=True,
        )


# -- deletion -----------------------------------------------------------------------------------


async def _save_deletion(case_id: str, deletion: Mapping[str, Any], now: datetime) -> None:
    await _update(case_id, {RevCase.deletion_json: json.dumps(deletion, sort_keys=True)}, now)


@handler(DELETE_JOB)
async def run_deletion(payload: dict[str, Any], now: datetime) -> None:
    case_id = payload["case_id"]
    row = await _case_row(case_id)
    if row["status"] == "deleted":
        return
    specs = await source_specs(row["client_id"])
    if not specs and not json.loads(row["deletion_json"] or "{}").get("sources"):
        # A certificate over no source would say "deleted, verified" about nothing at all.
        raise NoSources(
            f"client {row['client_id']} has no sources configured: nothing can be deleted "
            "and certified; configure them, then retry this job"
        )
    if row["status"] != "deleting":
        try:
            rules.check_deletion_allowed(row["status"], row["choice"], _deadlines(row), now)
        except rules.RuleViolation:
            return  # not due (e.g. an anomaly re-opened the export); rescheduled when it is
        async with db.transaction():
            deletion = {"started_at": utc_iso(now), "certificate_id": new_id("crt"), "sources": []}
            await _update(
                case_id,
                {
                    RevCase.status: "deleting",
                    RevCase.deletion_json: json.dumps(deletion, sort_keys=True),
                    RevCase.integrity: row["integrity"] or "silent",
                },
                now,
            )
            await _event(row, "reversibility.deletion.started", ACTOR, now)
        row = await _case_row(case_id)
    deletion = json.loads(row["deletion_json"])
    done = {s["source_id"] for s in deletion["sources"]}
    try:
        await check_sources_still_isolated(row["client_id"], [s for s in specs if s.id not in done])
    except SourceError as exc:  # nothing deleted; the job's error says why, the DPO fixes it
        raise DeletionError(f"refusing to delete: {exc}") from None
    for spec in specs:
        if spec.id in done:
            continue
        result = await anyio.to_thread.run_sync(delete_source, spec.url, spec.redacted, spec.tenant)
        check = await anyio.to_thread.run_sync(verify_source, spec.url, spec.redacted, spec.tenant)
        if not check["ok"]:
            raise DeletionError(f"{spec.redacted}: data left after deletion: {check['left']}")
        entry = {"source_id": spec.id, **result.to_dict(), "verification": check}
        deletion["sources"].append(entry)
        async with db.transaction():
            await _save_deletion(case_id, deletion, now)
            await _event(
                row,
                "reversibility.source.deleted",
                ACTOR,
                now,
                details={k: entry[k] for k in ("source_id", "kind", "counts", "inventory_sha256")},
            )
    if "crypto_erase" not in deletion:
        async with db.transaction():
            report = await data_keys.crypto_erase(row["client_id"], now)
            removed = archive.erase_ciphertexts(case_id)
            await RevExport.update({RevExport.status: "erased"}).where(RevExport.case_id == case_id)
            deletion["crypto_erase"] = _erase_record(report, removed, now)
            await _save_deletion(case_id, deletion, now)
            await _event(
                row,
                "crypto.data_key.erased",
                ACTOR,
                now,
                details=deletion["crypto_erase"],
            )
    await _issue_certificate(case_id, deletion, now)


def _erase_record(
    report: data_keys.EraseReport | None, removed: int, now: datetime
) -> dict[str, Any]:
    if report is None:
        return {
            "data_key_id": None,
            "wrapping": None,
            "wrapping_key_shared": None,
            "kms_key_deletion_date": None,
            "erased_at": utc_iso(now),
            "vault_copies_removed": removed,
            "statement": "no data key was ever created for this client: the vault held no "
            "copy of its data",
        }
    out = report.to_dict()
    if report.kms_key_deletion_date is not None:
        statement = (
            "the wrapped data key was destroyed and the client's own KMS key was scheduled for "
            f"deletion on {utc_iso(report.kms_key_deletion_date)}; from then no copy of the "
            "wrapped key can be unwrapped"
        )
    else:
        statement = (
            "the wrapped data key was destroyed; every encrypted export copy held by the vault "
            "is unreadable without it"
        )
    return {
        **out,
        "erased_at": utc_iso(now),
        "vault_copies_removed": removed,
        "statement": statement,
    }


def _backups(terms_backups: bool | None, erase: Mapping[str, Any], completed: datetime) -> dict:
    days = get_settings().backup_retention_days
    expires = completed + timedelta(days=days)
    kms_date = erase.get("kms_key_deletion_date")
    if kms_date:
        vault = {
            "method": "crypto-erase",
            "unreadable_from": kms_date,
            "note": "vault database backups hold the data key only wrapped by the client's own "
            "KMS key, whose deletion is scheduled",
        }
    else:
        vault = {
            "method": "expiry",
            "expires_by": utc_iso(expires),
            "note": "vault database backups taken before the erasure still hold the wrapped "
            "data key until their backup set expires",
        }
    statement = (
        f"Source systems' backup sets taken before the deletion expire by {utc_iso(expires)} "
        f"(retention {days} days) and are not restored for this client. Vault copies: "
        + (
            f"crypto-erased, unreadable from {kms_date}."
            if kms_date
            else f"wrapped key held by vault backups until {utc_iso(expires)}, then gone."
        )
    )
    return {
        "included_by_contract": terms_backups,
        "retention_days": days,
        "source_backup_sets_expire_by": utc_iso(expires),
        "vault": vault,
        "statement": statement,
    }


async def _issue_certificate(case_id: str, deletion: dict[str, Any], now: datetime) -> None:
    row = await _case_row(case_id)
    client = await contracts.get_client(row["client_id"])
    contract_row, terms = await _terms(row)
    rev = terms.reversibility
    settings = get_settings()
    exports = (
        await RevExport.select().where(RevExport.case_id == case_id).order_by(RevExport.attempt)
    )
    deadlines = _deadlines(row)
    exclusions = []
    if rev.legal_exclusions:
        source = rev.citations.get("legal_exclusions")
        exclusions.append(
            {
                "what": rev.legal_exclusions,
                "legalReason": (
                    f"contract {source.article}: « {source.quote} »"
                    if source
                    else "contract clause"
                ),
                "origin": "contract",
            }
        )
    for item in json.loads(row["exclusions_json"]):
        exclusions.append(
            {"what": item["what"], "legalReason": item["legal_reason"], "origin": "case"}
        )
    completed = now
    sources = deletion["sources"]
    overall = hashlib.sha256(
        "".join(sorted(s["inventory_sha256"] + "\n" for s in sources)).encode()
    ).hexdigest()
    deletion_due = rules.parse_iso((deadlines.get("deletion_deadline") or {}).get("due"))
    key = service_signing_key()
    predicate = {
        "certificateId": deletion["certificate_id"],
        "standard": "GDPR Art. 28(3)(g); modelled on NIST SP 800-88 Rev. 1 Appendix G",
        "processor": {
            "name": settings.processor_name,
            "contact": settings.processor_contact,
            "dpo": settings.processor_dpo,
        },
        "client": {"id": client["id"], "legalName": client["legal_name"]},
        "contract": {
            "id": contract_row["id"],
            "reference": contract_row["reference"],
            "preset": contract_row["preset"],
            "termsVersion": contract_row["current_version"],
            "deletionClause": (deadlines.get("deletion_deadline") or {}).get("clause"),
            "certificateClause": rev.certificate,
        },
        "case": {
            "id": case_id,
            "trigger": row["trigger"],
            "choice": row["choice"],
            "requestedAt": utc_iso(row["requested_at"]),
            "exportAvailableAt": utc_iso(row["first_available_at"]),
            "integrity": row["integrity"],
            "exports": [
                {"attempt": e["attempt"], "tagmanifestSha256": e["tagmanifest_sha256"]}
                for e in exports
                if e["tagmanifest_sha256"]
            ],
        },
        "sources": sources,
        "inventorySha256": overall,
        "inventoryFormat": "per source: SHA-256 of the sorted deleted identifiers, one per line; "
        "overall: SHA-256 of the sorted per-source digests, one per line",
        "verification": {
            "method": "every source rescanned after deletion: rows by tenant, object versions "
            "and delete markers under the prefix, tenant folder",
            "result": "pass" if all(s["verification"]["ok"] for s in sources) else "fail",
        },
        "cryptoErase": deletion["crypto_erase"],
        "backups": _backups(rev.backups_included, deletion["crypto_erase"], completed),
        "exclusions": exclusions,
        "deadline": {
            "due": utc_iso(deletion_due),
            "met": deletion_due is None or completed <= deletion_due,
        },
        "times": {
            "deletionStarted": deletion["started_at"],
            "deletionCompleted": utc_iso(completed),
            "issued": utc_iso(completed),
        },
        "signer": {
            "name": settings.processor_name,
            "keyid": key.keyid,
            "algorithm": "ed25519",
            "publicKeys": f"{settings.public_base_url.rstrip('/')}/api/v1/keys",
        },
    }
    signed = await anyio.to_thread.run_sync(certificates.write_certificate, case_id, predicate)
    deletion["certificate"] = {"sha256": signed["sha256"], "keyid": signed["keyid"]}
    async with db.transaction():
        current = await _case_row(case_id)
        target = rules.next_state(current["status"], "deletion_done")
        await _update(
            case_id,
            {
                RevCase.status: target,
                RevCase.deleted_at: now,
                RevCase.certificate_sha256: signed["sha256"],
                RevCase.deletion_json: json.dumps(deletion, sort_keys=True),
            },
            now,
        )
        await _event(
            current,
            "reversibility.certificate.issued",
            ACTOR,
            now,
            details={"certificate_sha256": signed["sha256"], "keyid": signed["keyid"]},
        )
        attachment = notifications.Attachment(
            filename=f"deletion-certificate-{case_id}.dsse.json",
            content_type="application/json",
            data=json.dumps(signed["envelope"], indent=2, sort_keys=True).encode(),
        )
        await notifications.queue_notice(
            client_id=current["client_id"],
            kind="deletion.certificate",
            subject_type="reversibility_case",
            subject_id=case_id,
            facts={
                "case_id": case_id,
                "certificate_id": predicate["certificateId"],
                "certificate_sha256": signed["sha256"],
                "keyid": signed["keyid"],
                "sources": len(sources),
                "verification": predicate["verification"]["result"],
                "exclusions": [e["what"] for e in exclusions],
                "backups": predicate["backups"]["statement"],
                "completed_at": utc_iso(completed),
                "certificate_url": f"{settings.public_base_url.rstrip('/')}/api/v1/clients/"
                f"{current['client_id']}/reversibility/cases/{case_id}/certificate",
            },
            now=now,
            actor=ACTOR,
            attachments=[attachment],
            requires_receipt=False,
        )
