"""One breach, two clients on two contracts, the night the clocks change: deadlines, escalation
alerts on an injected clock, the initial notice by real e-mail and webhook, a linked follow-up,
an overdue notice that records its lateness, scoped client views, the CNIL export, closure."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta

from gdpr_vault.auth.service import issue_token
from gdpr_vault.jobs.queue import run_one
from gdpr_vault.jobs.tables import Job
from gdpr_vault.notifications.delivery import deliver_due
from gdpr_vault.notifications.tables import Notice
from tests.breaches.conftest import facts_body, make_client

START = datetime(2026, 3, 28, 21, 30, tzinfo=UTC)  # 22:30 Paris (CET)
IPS_DUE = datetime(2026, 3, 30, 21, 30, tzinfo=UTC)
OPENSAFE_DUE = datetime(2026, 3, 31, 21, 30, tzinfo=UTC)


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def run_jobs(clock) -> int:
    ran = 0
    while await run_one("test-worker", clock(), 60):
        ran += 1
    return ran


async def alerts() -> list[dict]:
    rows = await Notice.select().where(Notice.kind == "breach.escalation").order_by(Notice.id)
    return [json.loads(r["facts_json"]) for r in rows]


async def test_breach_end_to_end(api, tokens, clock, smtp_server, webhook_receiver, mail_settings):
    dpo = h(tokens.dpo)
    clock.set(datetime(2026, 3, 28, 22, 0, tzinfo=UTC))
    ips = await make_client(api, tokens.dpo, "ips", "Clinique des Tilleuls", "privacy@ips.example")
    opensafe = await make_client(
        api, tokens.dpo, "opensafe", "Bâtiments Rhône Sécurité", "privacy@brs.example"
    )
    for client_id in (ips, opensafe):
        hook = await api.post(
            f"/api/v1/clients/{client_id}/webhooks", json={"url": webhook_receiver.url}, headers=dpo
        )
        assert hook.status_code == 201, hook.text

    # -- the log entry: likely consequences not known yet -------------------------------------
    created = await api.post("/api/v1/breaches", json=facts_body(), headers=dpo)
    assert created.status_code == 201, created.text
    breach = created.json()
    breach_id = breach["id"]
    assert breach["aware_at"] == "2026-03-28T21:30:00Z"
    assert [m["item"] for m in breach["missing_art_33_3"]] == ["33(3)(c)"]

    # -- fan-out: each client on its own contract's clock -------------------------------------
    marked = await api.post(
        f"/api/v1/breaches/{breach_id}/clients",
        json={"clients": [{"client_id": ips}, {"client_id": opensafe}]},
        headers=dpo,
    )
    assert marked.status_code == 201, marked.text
    by_client = {o["client_id"]: o for o in marked.json()["obligations"]}
    assert by_client[ips]["deadline"] == "2026-03-30T21:30:00Z"
    assert by_client[opensafe]["deadline"] == "2026-03-31T21:30:00Z"
    assert by_client[ips]["duration"] == "48 hours"
    assert by_client[opensafe]["duration"] == "72 hours"
    for obligation in by_client.values():
        assert obligation["terms_version"] == 1
        assert obligation["duration_source"] == "contract"
        assert obligation["status"] == "pending"
        assert any("daylight saving" in line for line in obligation["explanation"])
    assert by_client[ips]["deadline_display"] == "2026-03-30 23:30 (Europe/Paris)"
    again = await api.post(
        f"/api/v1/breaches/{breach_id}/clients",
        json={"clients": [{"client_id": ips}]},
        headers=dpo,
    )
    assert again.json()["marked"] == 0 and again.json()["already_marked"] == [ips]
    assert await Job.count().where(Job.kind == "breach.escalation") == 8

    # -- escalation: 50 % of the IPS period (24 h), nothing for OpenSafe yet -----------------
    clock.set(START + timedelta(hours=24))
    assert await run_jobs(clock) == 1
    (first,) = await alerts()
    assert first["threshold"] == "50%" and first["unnotified_clients"] == 1
    assert ips in first["clients"] and first["deadline"] == "2026-03-30T21:30:00Z"
    assert await run_jobs(clock) == 0  # idempotent: nothing more is due
    clock.set(START + timedelta(hours=36))  # IPS 75 %, OpenSafe 50 %
    assert await run_jobs(clock) == 2
    assert sorted(a["threshold"] for a in await alerts()) == ["50%", "50%", "75%"]

    screen = await api.get(f"/api/v1/breaches/{breach_id}/clients", headers=dpo)
    clocks = {o["client_id"]: o for o in screen.json()["items"]}
    assert clocks[ips]["fraction_elapsed"] == 0.75
    assert clocks[ips]["time_left_seconds"] == 12 * 3600
    assert clocks[ips]["thresholds_crossed"] == [0.5, 0.75]
    assert clocks[opensafe]["fraction_elapsed"] == 0.5

    # -- initial notice to IPS, incomplete: a warning, e-mail + webhook -----------------------
    clock.set(START + timedelta(hours=40))
    sent = await api.post(
        f"/api/v1/breaches/{breach_id}/notices",
        json={"phase": "initial", "clients": [ips], "message": "We are investigating."},
        headers=dpo,
    )
    assert sent.status_code == 201, sent.text
    body = sent.json()
    (initial,) = body["notices"]
    assert initial["late_by_seconds"] == 0 and initial["sequence"] == 0
    (warning,) = body["warnings"]
    assert warning["client_id"] == ips
    assert [m["item"] for m in warning["missing"]] == ["33(3)(c)"]

    assert await deliver_due("w", clock(), mail_settings) == 5  # 3 DPO alerts, e-mail, webhook
    to_dpo = [m for m in smtp_server.messages if m[1] == ["dpo@processor.example"]]
    assert len(to_dpo) == 3
    assert any(b"Breach clock 75%" in raw or b"75%" in raw for _, _, raw in to_dpo)
    ((_, rcpts, raw),) = [m for m in smtp_server.messages if m not in to_dpo]
    assert rcpts == ["privacy@ips.example"]
    mail = email.message_from_bytes(raw)
    assert "violation" in mail["Subject"].lower() or "breach" in mail["Subject"].lower()
    parts = {p.get_filename(): p for p in mail.walk() if p.get_filename()}
    attached = json.loads(parts[f"breach-{breach_id}-facts.json"].get_payload(decode=True))
    assert attached["facts"]["title"] == "Backup bucket exposed"
    assert attached["cnil_form"]["sections"]["dates"]["processor_aware_at"] == (
        "2026-03-28T21:30:00Z"
    )
    assert opensafe not in json.dumps(attached)
    ((headers, payload),) = webhook_receiver.received
    hook_body = json.loads(payload)
    assert hook_body["type"] == "breach.initial"
    assert headers["webhook-signature"].startswith("v1,")
    assert hook_body["data"]["attachments"][0]["filename"] == f"breach-{breach_id}-facts.json"

    # -- correct the facts (new version), then a follow-up linked to the initial notice ------
    corrected = await api.post(
        f"/api/v1/breaches/{breach_id}/corrections",
        json={
            "changes": {"likely_consequences": "phishing aimed at the employees concerned"},
            "reason": "impact analysis completed",
        },
        headers=dpo,
    )
    assert corrected.status_code == 201, corrected.text
    assert corrected.json()["facts_version"] == 2
    assert corrected.json()["missing_art_33_3"] == []
    versions = await api.get(f"/api/v1/breaches/{breach_id}/versions", headers=dpo)
    assert [v["version"] for v in versions.json()] == [1, 2]
    assert versions.json()[0]["facts"].get("likely_consequences") is None  # never overwritten
    follow = await api.post(
        f"/api/v1/breaches/{breach_id}/notices",
        json={"phase": "followup", "clients": [ips]},
        headers=dpo,
    )
    assert follow.status_code == 201, follow.text
    (followup,) = follow.json()["notices"]
    assert followup["initial_notice_id"] == initial["id"]
    assert followup["sequence"] == 1 and followup["facts_version"] == 2
    assert follow.json()["warnings"] == []

    async def clients_showing(status: str) -> list[str]:
        """The filter must pick exactly the clocks whose screen shows ``status``."""
        answer = await api.get(
            f"/api/v1/breaches/{breach_id}/clients", params={"status": status}, headers=dpo
        )
        assert answer.status_code == 200, answer.text
        return [o["client_id"] for o in answer.json()["items"]]

    # -- IPS 90 % and expiry find IPS notified: no alert; OpenSafe's 75 % and 90 % do fire ---
    clock.set(START + timedelta(hours=64.8))
    assert await run_jobs(clock) == 4
    assert len(await alerts()) == 5
    thresholds = [(a["threshold"], a["deadline"]) for a in await alerts()]
    assert ("90%", "2026-03-30T21:30:00Z") not in thresholds
    assert ("90%", "2026-03-31T21:30:00Z") in thresholds
    assert await clients_showing("pending") == [opensafe]
    assert await clients_showing("overdue") == []

    # -- OpenSafe: expiry alert, overdue stays red, a late notice needs its reason -----------
    clock.set(OPENSAFE_DUE)
    assert await run_jobs(clock) == 1
    assert [a["threshold"] for a in await alerts()][-1] == "deadline reached"
    clock.set(OPENSAFE_DUE + timedelta(hours=2, minutes=30))
    screen = await api.get(f"/api/v1/breaches/{breach_id}/clients", headers=dpo)
    clocks = {o["client_id"]: o for o in screen.json()["items"]}
    assert clocks[opensafe]["status"] == "overdue"
    assert clocks[opensafe]["time_left_seconds"] == -9000
    assert clocks[ips]["status"] == "notified"
    assert await clients_showing("overdue") == [opensafe]
    assert await clients_showing("pending") == []
    assert await clients_showing("unnotified") == [opensafe]
    assert await clients_showing("notified") == [ips]
    assert await clients_showing("notified_late") == []
    summary = (await api.get(f"/api/v1/breaches/{breach_id}", headers=dpo)).json()["clients"]
    assert summary == {
        "affected": 2,
        "pending": 0,
        "overdue": 1,
        "notified": 1,
        "notified_late": 0,
        "next_deadline": "2026-03-31T21:30:00Z",
    }
    refused = await api.post(
        f"/api/v1/breaches/{breach_id}/notices", json={"phase": "initial"}, headers=dpo
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "late_reason"
    assert refused.json()["rule"] == "required-when-late"
    late = await api.post(
        f"/api/v1/breaches/{breach_id}/notices",
        json={"phase": "initial", "late_reason": "the OpenSafe tenant was identified late"},
        headers=dpo,
    )
    assert late.status_code == 201, late.text
    (late_notice,) = late.json()["notices"]
    assert late_notice["client_id"] == opensafe
    assert late_notice["late_by_seconds"] == 9000
    screen = await api.get(f"/api/v1/breaches/{breach_id}/clients", headers=dpo)
    clocks = {o["client_id"]: o for o in screen.json()["items"]}
    assert clocks[opensafe]["status"] == "notified_late"
    assert clocks[opensafe]["late_reason"] == "the OpenSafe tenant was identified late"
    assert await clients_showing("notified_late") == [opensafe]
    assert await clients_showing("notified") == [ips]
    assert await clients_showing("overdue") == []
    unknown = await api.get(f"/api/v1/breaches/{breach_id}/clients?status=late", headers=dpo)
    assert unknown.status_code == 400

    # -- the client's own view: its clock and notices, nobody else's ------------------------
    ips_token = await issue_token(
        role="client", client_id=ips, label="ips", expires_at=None, actor="t", now=clock()
    )
    auditor = await issue_token(
        role="auditor",
        client_id=ips,
        label="aud",
        expires_at=clock() + timedelta(days=30),
        actor="t",
        now=clock(),
    )
    for token in (ips_token["token"], auditor["token"]):
        listed = await api.get(f"/api/v1/clients/{ips}/breaches", headers=h(token))
        assert [b["id"] for b in listed.json()["items"]] == [breach_id]
        view = await api.get(f"/api/v1/clients/{ips}/breaches/{breach_id}", headers=h(token))
        assert view.status_code == 200, view.text
        assert opensafe not in view.text
        assert view.json()["obligation"]["deadline"] == "2026-03-30T21:30:00Z"
        assert [n["phase"] for n in view.json()["notices"]] == ["initial", "followup"]
        other = await api.get(f"/api/v1/clients/{opensafe}/breaches", headers=h(token))
        assert other.status_code == 404
    cnil = await api.get(
        f"/api/v1/clients/{ips}/breaches/{breach_id}/cnil", headers=h(ips_token["token"])
    )
    sections = cnil.json()["sections"]
    assert set(sections) == {
        "organisation",
        "nature",
        "dates",
        "persons_and_records",
        "consequences",
        "measures",
        "cross_border",
        "information_of_persons",
    }
    assert sections["dates"]["occurred_at"] == "2026-03-28T19:05:00Z"
    assert sections["organisation"]["controller"]["client_id"] == ips
    page = await api.get(
        f"/api/v1/clients/{ips}/breaches/{breach_id}/cnil.html", headers=h(ips_token["token"])
    )
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "Nature of the breach" in page.text and opensafe not in page.text

    # -- closure: remedial actions and summary, readable by the client's auditor ------------
    closed = await api.post(
        f"/api/v1/breaches/{breach_id}/close",
        json={
            "remedial_actions": ["bucket policy linting in CI"],
            "summary": "Exposure of 5 hours, no evidence of download.",
        },
        headers=dpo,
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    view = await api.get(f"/api/v1/clients/{ips}/breaches/{breach_id}", headers=h(auditor["token"]))
    assert view.json()["closure"]["remedial_actions"] == ["bucket policy linting in CI"]
    trail = await api.get("/api/v1/trail/verify", headers=dpo)
    assert trail.json()["ok"] is True
