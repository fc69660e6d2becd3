"""Use cases of reversibility: sources, cases, requests, choices, integrity answers, downloads.

Each use case is one transaction and one trail event. The long work (packing, deleting) runs in
jobs (``jobs.py``), which call back in here to change state. The trail never holds personal data:
digests, ids and counts only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread

from gdpr_vault import db
from gdpr_vault.auth.tokens import Principal
from gdpr_vault.contracts import service as contracts
from gdpr_vault.contracts.terms import ContractTerms
from gdpr_vault.crypto import keys as data_keys
from gdpr_vault.errors import Conflict, Forbidden, NotFound, ValidationProblem
from gdpr_vault.evidence import trail
from gdpr_vault.ids import is_valid_id, new_id
from gdpr_vault.inputs import check_input_date
from gdpr_vault.jobs.queue import enqueue, jobs_by_dedupe_key
from gdpr_vault.pagination import PageRequest, page
from gdpr_vault.reversibility import archive, isolation, rules, sources
from gdpr_vault.reversibility.deletion import shared_rows
from gdpr_vault.reversibility.schemas import AnomalyIn, CaseOpenIn, ChoiceIn, RequestIn, SourcesIn
from gdpr_vault.reversibility.tables import RevCase, RevExport, RevSource
from gdpr_vault.settings import get_settings
from gdpr_vault.timeutil import (
    utc_iso,
)

EXPORT_JOB = "reversibility.export"
DELETE_JOB = "reversibility.delete"
CLOSED = "deleted"


def refuse(violation: rules.RuleViolation) -> Exception:
    if violation.kind == "invalid":
        return ValidationProblem(str(violation), field=violation.field, rule=violation.rule)
    return Conflict(str(violation), field=violation.field, rule=violation.rule)


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    return check_input_date(value, field)


# -- sources ------------------------------------------------------------------------------------


def _source_out(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "position": row["position"],
        "kind": row["kind"],
        "url": row["url_redacted"],
        "tenant": row["tenant"],
        "created_at": utc_iso(row["created_at"]),
    }


async def list_sources(client_id: str) -> list[dict[str, Any]]:
    await contracts.get_client(client_id)
    rows = (
        await RevSource.select()
        .where(RevSource.client_id == client_id)
        .order_by(RevSource.position)
    )
    return [_source_out(r) for r in rows]


def _vault_reaches() -> list[isolation.Reach]:
    """The vault's own keys, exports, certificates and database: no client source reaches them."""
    settings = get_settings()
    var = settings.var_dir
    paths = [
        settings.keys_dir,
        settings.effective_signing_key_path,
        archive.exports_root(),
        var / "certificates",
        var / "register-exports",
    ]
    own_file = db.sqlite_path(settings.effective_database_url) if settings.is_sqlite else None
    return isolation.vault_reaches(paths, settings.effective_database_url, own_file)


async def _other_clients_sources(client_id: str) -> list[tuple[str, str, str]]:
    """(client id, url, tenant) of every other client's sources, to refuse overlapping ones."""
    rows = await RevSource.select(
        RevSource.id, RevSource.client_id, RevSource.url_sealed, RevSource.tenant
    ).where(RevSource.client_id != client_id)
    return [
        (r["client_id"], sources.unseal_url(r["client_id"], r["id"], r["url_sealed"]), r["tenant"])
        for r in rows
    ]


async def check_sources_still_isolated(client_id: str, specs: list[sources.SourceSpec]) -> None:
    """Run the sources' checks again, as things stand now, before deleting anything.

    A folder checked when the source was set can since have become a symbolic link into
    another client's data, or another client can have been given an overlapping source.
    Raises :class:`sources.SourceError`, which the deletion job reports and retries.
    """
    others = await _other_clients_sources(client_id)
    vault = _vault_reaches()
    for spec in specs:
        await anyio.to_thread.run_sync(sources.check_isolated, spec.url, spec.tenant, vault, others)
        clash = await anyio.to_thread.run_sync(shared_rows, spec.url, spec.tenant, others)
        if clash is not None:
            raise sources.SourceError(f"{spec.redacted}: {clash}", "sources", "tenant-collision")


async def _sources_in_use(client_id: str) -> bool:
    """A case is exporting or deleting with them, unless its export's job gave up.

    A dead export job waits for the DPO to fix its cause, and the cause is often the source.
    """
    busy = await RevCase.select(RevCase.id, RevCase.status, RevCase.export_attempt).where(
        (RevCase.client_id == client_id) & RevCase.status.is_in(["exporting", "deleting"])
    )
    for case in busy:
        if case["status"] == "deleting":
            return True
        key = _export_job_key(case["id"], case["export_attempt"])
        job = (await jobs_by_dedupe_key([key])).get(key)
        if job is None or job["status"] != "dead":
            return True
    return False


async def set_sources(
    client_id: str, data: SourcesIn, actor: str, now: datetime
) -> list[dict[str, Any]]:
    """Replace the client's sources; URLs sealed under the master key, shown redacted."""
    await contracts.get_client(client_id)
    tenant = data.tenant or client_id
    urls = [s.url for s in data.sources]
    others = await _other_clients_sources(client_id)
    try:
        redacted = await anyio.to_thread.run_sync(
            sources.validate, urls, tenant, _vault_reaches(), others
        )
    except sources.SourceError as exc:
        raise ValidationProblem(str(exc), field=exc.field, rule=exc.rule) from None
    async with db.transaction():
        if await _sources_in_use(client_id):
            raise Conflict(
                "a case of this client is exporting or deleting; change its sources afterwards",
                rule="reversibility-sources-locked",
            )
        await RevSource.delete().where(RevSource.client_id == client_id)
        rows = []
        for position, (url, shown) in enumerate(zip(urls, redacted, strict=True)):
            source_id = new_id("src")
            rows.append(
                RevSource(
                    id=source_id,
                    client_id=client_id,
                    position=position,
                    url_sealed=sources.seal_url(client_id, source_id, url),
                    url_redacted=shown,
                    kind=sources.kind_of(url),
                    tenant=tenant,
                    created_at=now,
                    created_by=actor,
                )
            )
        await RevSource.insert(*rows)
        await trail.append(
            now=now,
            actor=actor,
            action="reversibility.sources.set",
            subject_type="client",
            subject_id=client_id,
            client_id=client_id,
            after={"sources": redacted, "tenant": tenant},
            details={"count": len(rows), "kinds": sorted({r.kind for r in rows})},
        )
    return await list_sources(client_id)


async def source_specs(client_id: str) -> list[sources.SourceSpec]:
    rows = (
        await RevSource.select()
        .where(RevSource.client_id == client_id)
        .order_by(RevSource.position)
    )
    return [
        sources.SourceSpec(
            r["id"],
            sources.unseal_url(client_id, r["id"], r["url_sealed"]),
            r["url_redacted"],
            r["kind"],
            r["tenant"],
        )
        for r in rows
    ]


# -- cases --------------------------------------------------------------------------------------


async def _contract_for(client_id: str, contract_id: str | None) -> dict[str, Any]:
    if contract_id is not None:
        return await contracts.get_contract(client_id, contract_id)
    listed = await contracts.list_contracts(client_id)
    active = [c for c in listed if c["status"] == "active"] or listed
    if not active:
        raise ValidationProblem(
            "the client has no contract", field="contract_id", rule="contract-required"
        )
    return active[-1]


async def _terms(case: Mapping[str, Any]) -> tuple[dict[str, Any], ContractTerms]:
    return await contracts.current_terms(case["client_id"], case["contract_id"])


async def _case_row(case_id: str, client_id: str | None = None) -> dict[str, Any]:
    row = None
    if is_valid_id(case_id, "rev"):
        query = RevCase.select().where(RevCase.id == case_id)
        if client_id is not None:
            query = query.where(RevCase.client_id == client_id)
        row = await query.first()
    if row is None:
        raise NotFound(f"reversibility case {case_id} not found", field="case_id")
    return row


def _deadlines(row: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(row["deadlines_json"])


async def _event(
    row: Mapping[str, Any],
    action: str,
    actor: str,
    now: datetime,
    details: Mapping[str, Any] | None = None,
    after: Any = None,
) -> None:
    await trail.append(
        now=now,
        actor=actor,
        action=action,
        subject_type="reversibility_case",
        subject_id=row["id"],
        client_id=row["client_id"],
        after=after,
        details=details,
    )


async def open_case(client_id: str, data: CaseOpenIn, actor: str, now: datetime) -> dict[str, Any]:
    """A case opens on termination, non-renewal or the client's request."""
    await contracts.get_client(client_id)
    notified = _aware(data.termination_notified_at, "termination_notified_at")
    if notified is not None and notified > now:
        raise ValidationProblem(
            "termination_notified_at is in the future",
            field="termination_notified_at",
            rule="not-in-future",
        )
    contract = await _contract_for(client_id, data.contract_id)
    contract_row, terms = await contracts.current_terms(client_id, contract["id"])
    end = data.contract_end or contract_row["end_date"]
    if end is None:
        raise ValidationProblem(
            "the contract has no end date: give contract_end",
            field="contract_end",
            rule="contract-end-required",
        )
    try:
        rules.check_within_contract(
            terms,
            contract_row["start_date"],
            contract_end=end,
            events={"termination_notified_at": notified},
        )
    except rules.RuleViolation as exc:
        raise refuse(exc) from None
    version = contract_row["current_version"]
    deadlines: dict[str, Any] = {}
    window = rules.request_earliest(terms, end)
    if window is not None:
        deadlines["request_window_opens"] = window.to_dict(version)
    if notified is not None:
        choice = rules.clock(terms, "delete_or_return_choice", notified)
        deadlines["delete_or_return_choice"] = choice.to_dict(version)
    exclusions = [
        {
            "what": e.what,
            "legal_reason": e.legal_reason,
            "added_by": actor,
            "added_at": utc_iso(now),
        }
        for e in data.exclusions
    ]
    case_id = new_id("rev")
    async with db.transaction():
        if await RevCase.exists().where(
            (RevCase.client_id == client_id) & (RevCase.status != CLOSED)
        ):
            raise Conflict(
                "this client already has an open reversibility case",
                rule="reversibility-one-open-case",
            )
        row = RevCase(
            id=case_id,
            client_id=client_id,
            contract_id=contract["id"],
            terms_version=version,
            trigger=data.trigger,
            status="opened",
            contract_end=end,
            termination_notified_at=notified,
            deadlines_json=json.dumps(deadlines, sort_keys=True),
            exclusions_json=json.dumps(exclusions),
            opened_at=now,
            opened_by=actor,
            updated_at=now,
        )
        await RevCase.insert(row)
        await _event(
            row.to_dict(),
            "reversibility.case.opened",
            actor,
            now,
            details={
                "trigger": data.trigger,
                "contract_id": contract["id"],
                "terms_version": version,
            },
        )
    return await get_case(client_id, case_id, now)


async def _export_rows(case_id: str) -> list[dict[str, Any]]:
    return await RevExport.select().where(RevExport.case_id == case_id).order_by(RevExport.attempt)


def _export_job_key(case_id: str, attempt: int) -> str:
    return f"{EXPORT_JOB}:{case_id}:{attempt}"


async def _export_jobs(case_id: str, exports: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The background job of each export still under way, by attempt."""
    keys = {
        _export_job_key(case_id, e["attempt"]): e["attempt"]
        for e in exports
        if e["status"] in ("queued", "running")
    }
    found = await jobs_by_dedupe_key(list(keys))
    return {keys[key]: job for key, job in found.items()}


def _job_view(job: Mapping[str, Any]) -> dict[str, Any]:
    """How an export's job is going: a failing one says why, and a dead one can be retried."""
    return {
        "id": job["id"],
        "status": job["status"],
        "attempts": job["attempts"],
        "max_attempts": job["max_attempts"],
        "next_attempt_at": job["run_at"] if job["status"] == "queued" else None,
        "last_error": job["last_error"],
        "retry": f"/api/v1/jobs/{job['id']}/retry" if job["status"] == "dead" else None,
    }


def _export_out(row: Mapping[str, Any], job: Mapping[str, Any] | None = None) -> dict[str, Any]:
    status = row["status"]
    if job is not None and job["status"] == "dead" and status in ("queued", "running"):
        status = "failed"  # its job gave up: the DPO fixes the cause, then retries the job
    return {
        "attempt": row["attempt"],
        "reason": row["reason"],
        "files_concerned": json.loads(row["files_concerned_json"]),
        "status": status,
        "files": row["files"],
        "bytes": row["bytes"],
        "payload_oxum": row["payload_oxum"],
        "tagmanifest_sha256": row["tagmanifest_sha256"],
        "signature_keyid": row["signature_keyid"],
        "archive_sha256": row["archive_sha256"],
        "data_key_id": row["data_key_id"],
        "reused_files": row["reused_files"],
        "available_at": utc_iso(row["available_at"]),
        "job": None if job is None else _job_view(job),
    }


def _case_out(
    row: Mapping[str, Any],
    exports: list[dict[str, Any]],
    now: datetime,
    jobs: Mapping[int, Mapping[str, Any]] | None = None,
) -> dict:
    deletion = json.loads(row["deletion_json"])
    base = f"/api/v1/clients/{row['client_id']}/reversibility/cases/{row['id']}"
    return {
        "id": row["id"],
        "client_id": row["client_id"],
        "contract_id": row["contract_id"],
        "terms_version": row["terms_version"],
        "trigger": row["trigger"],
        "status": row["status"],
        "contract_end": row["contract_end"].isoformat(),
        "termination_notified_at": utc_iso(row["termination_notified_at"]),
        "requested_at": utc_iso(row["requested_at"]),
        "request_form": row["request_form"],
        "choice": row["choice"],
        "choice_at": utc_iso(row["choice_at"]),
        "export_available_at": utc_iso(row["available_at"]),
        "first_export_available_at": utc_iso(row["first_available_at"]),
        "integrity": row["integrity"],
        "integrity_at": utc_iso(row["integrity_at"]),
        "deadlines": rules.deadline_view(_deadlines(row), now),
        "anomalies": json.loads(row["anomalies_json"]),
        "exclusions": json.loads(row["exclusions_json"]),
        "exports": [_export_out(e, (jobs or {}).get(e["attempt"])) for e in exports],
        "deletion": {
            "sources": deletion.get("sources", []),
            "crypto_erase": deletion.get("crypto_erase"),
            "started_at": deletion.get("started_at"),
        },
        "certificate_sha256": row["certificate_sha256"],
        "deleted_at": utc_iso(row["deleted_at"]),
        "opened_at": utc_iso(row["opened_at"]),
        "links": {
            "self": base,
            "certificate": f"{base}/certificate" if row["certificate_sha256"] else None,
            "download_link": f"{base}/download-link"
            if row["status"] in ("export_available", "integrity_confirmed")
            else None,
        },
    }


async def get_case(client_id: str, case_id: str, now: datetime) -> dict[str, Any]:
    row = await _case_row(case_id, client_id)
    exports = await _export_rows(case_id)
    return _case_out(row, exports, now, await _export_jobs(case_id, exports))


async def list_cases(
    client_id: str | None, status: str | None, request: PageRequest, now: datetime
) -> dict[str, Any]:
    query = RevCase.select().order_by(RevCase.id).limit(request.limit + 1)
    if client_id is not None:
        query = query.where(RevCase.client_id == client_id)
    if status is not None:
        query = query.where(RevCase.status == status)
    if request.cursor:
        query = query.where(RevCase.id > request.cursor)
    rows = await query
    return page([_case_out(r, [], now) for r in rows], request)


async def _update(case_id: str, values: Mapping[Any, Any], now: datetime) -> None:
    await RevCase.update({**values, RevCase.updated_at: now}).where(RevCase.id == case_id)


def _check(action: str, status: str) -> str:
    try:
        return rules.next_state(status, action)
    except rules.RuleViolation as exc:
        raise refuse(exc) from None


async def _new_export(
    case_id: str, attempt: int, reason: str, files: list[str], now: datetime
) -> None:
    await RevExport.insert(
        RevExport(
            id=new_id("rex"),
            case_id=case_id,
            attempt=attempt,
            reason=reason,
            files_concerned_json=json.dumps(files, ensure_ascii=False),
            status="queued",
            created_at=now,
        )
    )
    await enqueue(
        EXPORT_JOB,
        {"case_id": case_id, "attempt": attempt},
        run_at=now,
        dedupe_key=_export_job_key(case_id, attempt),
    )


async def _schedule_deletion(case_id: str, run_at: datetime, tag: str) -> None:
    await enqueue(
        DELETE_JOB, {"case_id": case_id}, run_at=run_at, dedupe_key=f"{DELETE_JOB}:{case_id}:{tag}"
    )


async def record_request(
    client_id: str, case_id: str, data: RequestIn, actor: str, now: datetime
) -> dict[str, Any]:
    """The client's request for its data: checked against its window; the export is queued."""
    received = _aware(data.received_at, "received_at") or now
    if received > now:
        raise ValidationProblem(
            "received_at is in the future", field="received_at", rule="not-in-future"
        )
    async with db.transaction():
        row = await _case_row(case_id, client_id)
        target = _check("request", row["status"])
        contract_row, terms = await _terms(row)
        try:
            rules.check_within_contract(
                terms, contract_row["start_date"], events={"received_at": received}
            )
            rules.check_request_time(terms, row["contract_end"], received)
        except rules.RuleViolation as exc:
            raise refuse(exc) from None
        deadlines = _deadlines(row)
        version = contract_row["current_version"]
        export = rules.clock(terms, "export_deadline", received)
        deadlines["export_deadline"] = export.to_dict(version)
        values: dict[Any, Any] = {
            RevCase.status: target,
            RevCase.requested_at: received,
            RevCase.request_form: data.form,
            RevCase.deadlines_json: json.dumps(deadlines, sort_keys=True),
        }
        details: dict[str, Any] = {
            "received_at": utc_iso(received),
            "export_due": export.to_dict(version)["due"],
        }
        if data.choice is not None:
            late = _validate_choice(terms, data.choice, received, deadlines)
            values[RevCase.choice] = data.choice
            values[RevCase.choice_at] = received
            details["choice"] = data.choice
            details["choice_late"] = late
        await _update(case_id, values, now)
        if data.choice == "destruction":
            await _schedule_deletion(case_id, now, "destruction")
        else:
            await RevCase.update({RevCase.export_attempt: 1}).where(RevCase.id == case_id)
            await _new_export(case_id, 1, "initial", [], now)
        await _event(row, "reversibility.request.received", actor, now, details=details)
    return await get_case(client_id, case_id, now)


def _validate_choice(
    terms: ContractTerms, choice: str, at: datetime, deadlines: Mapping[str, Any]
) -> bool:
    try:
        return rules.check_choice(terms, choice, at, deadlines)
    except rules.RuleViolation as exc:
        raise refuse(exc) from None


async def choose(
    client_id: str, case_id: str, data: ChoiceIn, actor: str, now: datetime
) -> dict[str, Any]:
    """Restitution or destruction; a late choice is recorded and flagged."""
    async with db.transaction():
        row = await _case_row(case_id, client_id)
        _check("choose", row["status"])
        if row["choice"] is not None:
            raise Conflict(
                f"the client already chose {row['choice']}",
                field="choice",
                rule="reversibility-choice-made",
            )
        _contract, terms = await _terms(row)
        late = _validate_choice(terms, data.choice, now, _deadlines(row))
        await _update(case_id, {RevCase.choice: data.choice, RevCase.choice_at: now}, now)
        if data.choice == "destruction" and row["status"] in ("opened", "requested"):
            await _schedule_deletion(case_id, now, "destruction")
        await _event(
            row,
            "reversibility.choice.made",
            actor,
            now,
            details={"choice": data.choice, "late": late},
        )
    return await get_case(client_id, case_id, now)


async def confirm_integrity(
    client_id: str, case_id: str, actor: str, now: datetime
) -> dict[str, Any]:
    async with db.transaction():
        row = await _case_row(case_id, client_id)
        target = _check("confirm", row["status"])
        late = rules.is_late_report(_deadlines(row), now)
        await _update(
            case_id,
            {RevCase.status: target, RevCase.integrity: "confirmed", RevCase.integrity_at: now},
            now,
        )
        await _schedule_deletion(case_id, now, f"confirmed-{row['export_attempt']}")
        await _event(
            row,
            "reversibility.integrity.confirmed",
            actor,
            now,
            details={"attempt": row["export_attempt"], "late": late},
        )
    return await get_case(client_id, case_id, now)


async def _delivered_files(client_id: str, case_id: str) -> set[str] | None:
    """The payload paths of the export the client has now (its manifest), or ``None``."""
    row = await _case_row(case_id, client_id)
    export = _current_export(await _export_rows(case_id), row["export_attempt"])
    if export is None or export["data_key_id"] is None:
        return None
    try:
        key = await data_keys.load(client_id, export["data_key_id"])
    except data_keys.DataKeyDestroyed:
        return None
    return await anyio.to_thread.run_sync(
        archive.manifest_paths, case_id, export["attempt"], key.key
    )


def _check_anomaly_files(files: list[str], delivered: set[str] | None) -> None:
    """Each file must be one the export delivered, named as in its manifest (``data/...``).

    A file the client expected but did not get has no name in the bag: the description says so.
    """
    for index, name in enumerate(files):
        if delivered is None or name not in delivered:
            raise ValidationProblem(
                f"files[{index}]: {name!r} is not a file of this export (name files as its "
                "manifest-sha256.txt does, e.g. data/files/...; describe missing ones in "
                "description)",
                field=f"files[{index}]",
                rule="anomaly-file",
            )


async def report_anomaly(
    client_id: str, case_id: str, data: AnomalyIn, actor: str, now: datetime
) -> dict[str, Any]:
    """In time: the export re-runs (new manifest kept beside the old). Late: recorded, flagged."""
    delivered = await _delivered_files(client_id, case_id)  # decrypted outside the transaction
    async with db.transaction():
        row = await _case_row(case_id, client_id)
        deadlines = _deadlines(row)
        late = rules.is_late_report(deadlines, now)
        if row["status"] == CLOSED:
            raise Conflict(
                "the data was deleted; the case is closed",
                rule="reversibility-transition:report_anomaly",
            )
        if not late or row["status"] not in ("export_available", "integrity_confirmed", "deleting"):
            _check("report_anomaly", row["status"])
        _check_anomaly_files(data.files, delivered)
        anomalies = json.loads(row["anomalies_json"])
        anomalies.append(
            {
                "reported_at": utc_iso(now),
                "reported_by": actor,
                "attempt": row["export_attempt"],
                "files": data.files,
                "description": data.description,
                "late": late,
                "reopened_export": not late,
            }
        )
        values: dict[Any, Any] = {RevCase.anomalies_json: json.dumps(anomalies, ensure_ascii=False)}
        if not late:
            attempt = row["export_attempt"] + 1
            values.update(
                {
                    RevCase.status: "anomaly_reported",
                    RevCase.integrity: "anomaly",
                    RevCase.integrity_at: now,
                    RevCase.export_attempt: attempt,
                }
            )
            await _new_export(case_id, attempt, "anomaly", data.files, now)
        await _update(case_id, values, now)
        await _event(
            row,
            "reversibility.integrity.anomaly",
            actor,
            now,
            after={"files": data.files, "description": data.description},
            details={"attempt": row["export_attempt"], "late": late, "files": len(data.files)},
        )
    return await get_case(client_id, case_id, now)


async def add_exclusion(
    client_id: str, case_id: str, what: str, legal_reason: str, actor: str, now: datetime
) -> dict[str, Any]:
    async with db.transaction():
        row = await _case_row(case_id, client_id)
        _check("add_exclusion", row["status"])
        exclusions = json.loads(row["exclusions_json"])
        exclusions.append(
            {
                "what": what,
                "legal_reason": legal_reason,
                "added_by": actor,
                "added_at": utc_iso(now),
            }
        )
        await _update(case_id, {RevCase.exclusions_json: json.dumps(exclusions)}, now)
        await _event(
            row,
            "reversibility.exclusion.added",
            actor,
            now,
            after={"what": what, "legal_reason": legal_reason},
        )
    return await get_case(client_id, case_id, now)


async def request_deletion_now(
    client_id: str, case_id: str, actor: str, now: datetime
) -> dict[str, Any]:
    """The DPO runs the deletion now (the rules still apply: not inside an open window)."""
    async with db.transaction():
        row = await _case_row(case_id, client_id)
        try:
            rules.check_deletion_allowed(row["status"], row["choice"], _deadlines(row), now)
        except rules.RuleViolation as exc:
            raise refuse(exc) from None
        await _schedule_deletion(case_id, now, f"dpo-{int(now.timestamp())}")
        await _event(row, "reversibility.deletion.requested", actor, now)
    return await get_case(client_id, case_id, now)


# -- downloads ----------------------------------------------------------------------------------


def _current_export(exports: list[dict[str, Any]], attempt: int) -> dict[str, Any] | None:
    return next(
        (e for e in exports if e["attempt"] == attempt and e["status"] == "available"), None
    )


def download_url(client_id: str, case_id: str, attempt: int, now: datetime) -> tuple[str, datetime]:
    settings = get_settings()
    expires = now + timedelta(hours=settings.download_link_ttl_hours)
    token = archive.make_link_token(case_id, client_id, attempt, expires)
    path = f"/api/v1/clients/{client_id}/reversibility/cases/{case_id}/download"
    return f"{settings.public_base_url.rstrip('/')}{path}?link={token}", expires


async def download_link(
    client_id: str, case_id: str, principal: Principal, now: datetime
) -> dict[str, Any]:
    if principal.role == "auditor":
        raise Forbidden("auditors do not download the client's data", rule="role:auditor-no-export")
    row = await _case_row(case_id, client_id)
    _check("download", row["status"])
    export = _current_export(await _export_rows(case_id), row["export_attempt"])
    if export is None:
        raise Conflict("no export is available", rule="reversibility-transition:download")
    url, expires = download_url(client_id, case_id, export["attempt"], now)
    return {
        "url": url,
        "expires_at": utc_iso(expires),
        "attempt": export["attempt"],
        "tagmanifest_sha256": export["tagmanifest_sha256"],
        "archive": "tar of a signed BagIt bag (bagit.py --validate / exporters verify)",
    }


async def open_download(
    client_id: str, case_id: str, link: str, principal: Principal, now: datetime
) -> tuple[Iterator[bytes], str]:
    """Check the link, log the download (who, which attempt), and stream the decrypted tar."""
    if principal.role == "auditor":
        raise Forbidden("auditors do not download the client's data", rule="role:auditor-no-export")
    row = await _case_row(case_id, client_id)
    checked = archive.read_link_token(link, case_id, client_id, now)
    if isinstance(checked, str):
        raise Forbidden(checked, field="link", rule="download-link")
    _check("download", row["status"])
    export = _current_export(await _export_rows(case_id), checked)
    if export is None:
        raise Conflict(
            "this link is for an export that was replaced; ask for a new link",
            field="link",
            rule="download-link-current",
        )
    try:
        key = await data_keys.load(client_id, export["data_key_id"])
    except data_keys.DataKeyDestroyed as exc:
        raise Conflict("the export's key was destroyed", rule="crypto-erased") from exc
    async with db.transaction():
        await _event(
            row,
            "reversibility.export.downloaded",
            principal.actor,
            now,
            details={
                "attempt": export["attempt"],
                "archive_sha256": export["archive_sha256"],
                "principal": principal.actor,
                "role": principal.role,
            },
        )
    name = f"{archive.bag_name(case_id, export['attempt'])}.tar"
    return archive.decrypted_archive(case_id, export["attempt"], key.key), name


# -- certificate --------------------------------------------------------------------------------


async def certificate(client_id: str, case_id: str) -> dict[str, Any]:
    from gdpr_vault.reversibility.certificate import read_envelope

    row = await _case_row(case_id, client_id)
    envelope = read_envelope(case_id) if row["certificate_sha256"] else None
    if envelope is None:
        raise NotFound("no deletion certificate yet for this case", field="case_id")
    return envelope


async def certificate_page(client_id: str, case_id: str) -> str:
    from gdpr_vault.reversibility.certificate import read_page

    row = await _case_row(case_id, client_id)
    page_text = read_page(case_id) if row["certificate_sha256"] else None
    if page_text is None:
        raise NotFound("no deletion certificate yet for this case", field="case_id")
    return page_text
