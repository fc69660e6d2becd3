"""Demo data: one client per preset and a small tenant-scoped "application" to export and delete.

The sample application is what a processor's real product would hold for its clients: a folder
of files per tenant and a SQLite database whose tables carry a tenant column. Reversibility
exports and certified deletion run against it, so every feature can be tried on a fresh clone.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from pathlib import Path
from typing import Any

from gdpr_vault.contracts.rules import luhn_ok
from gdpr_vault.contracts.schemas import ClientIn, ContactIn, ContractIn, DpoIn
from gdpr_vault.contracts.service import create_client
from gdpr_vault.settings import get_settings

DEMO_CLIENTS: tuple[tuple[str, str, str, str], ...] = (
    ("ips", "Clinique des Tilleuls SAS", "dpo@tilleuls.example", "fr"),
    ("omr", "Mutuelle Horizon Ouest", "privacy@horizon-ouest.example", "fr"),
    ("sibio", "Laboratoires Sibio Analyses", "dpo@sibio-analyses.example", "fr"),
    ("octipas", "Transports Octave & Fils", "rgpd@octave-fils.example", "fr"),
    ("opensafe", "Bâtiments Rhône Sécurité SA", "dpo@brs.example", "en"),
)


def siren_for(seed: int) -> str:
    """A syntactically valid (Luhn) SIREN for fictional companies."""
    base = f"{900000000 + seed * 1117:09d}"[:8]
    for check in range(10):
        if luhn_ok(base + str(check)):
            return base + str(check)
    raise AssertionError("unreachable: one Luhn digit always exists")


def _demo_app_dir() -> Path:
    return get_settings().var_dir / "demo-app"


def build_sample_application(client_ids: list[str]) -> dict[str, str]:
    """Files and a tenant-scoped SQLite database the export feature can read."""
    root = _demo_app_dir()
    (root / "tenants").mkdir(parents=True, exist_ok=True)
    db_path = root / "app.sqlite3"
    with sqlite3.connect(db_path) as conn:
        conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS employees (
                id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, full_name TEXT, email TEXT,
                hired_on TEXT);
            CREATE TABLE IF NOT EXISTS badge_events (
                id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, employee_id INTEGER,
                at TEXT, door TEXT);
            """
        )
        for index, client_id in enumerate(client_ids):
            folder = root / "tenants" / client_id
            (folder / "documents").mkdir(parents=True, exist_ok=True)
            (folder / "documents" / "règlement intérieur.txt").write_text(
                "Règlement intérieur — exemple de document client.\n", encoding="utf-8"
            )
            (folder / "documents" / "planning 2026.csv").write_text(
                "semaine;équipe\n1;A\n2;B\n", encoding="utf-8"
            )
            for n in range(5):
                conn.execute(
                    "INSERT INTO employees (tenant_id, full_name, email, hired_on) "
                    "VALUES (?, ?, ?, ?)",
                    (
                        client_id,
                        f"Salarié {index}-{n}",
                        f"s{index}{n}@client.example",
                        "2024-01-0" + str(n + 1),
                    ),
                )
                conn.execute(
                    "INSERT INTO badge_events (tenant_id, employee_id, at, door) VALUES (?,?,?,?)",
                    (client_id, n + 1, f"2026-03-0{n + 1}T08:0{n}:00Z", "Entrée nord"),
                )
    return {"files": f"file://{(root / 'tenants').resolve()}/{{client}}/", "sql": str(db_path)}


async def load_demo(now: datetime) -> dict[str, Any]:
    created = []
    for index, (preset, name, email, language) in enumerate(DEMO_CLIENTS, start=1):
        client = await create_client(
            ClientIn(
                legal_name=name,
                country="FR",
                registration_scheme="SIREN",
                registration_id=siren_for(index),
                language=language,  # type: ignore[arg-type]
                dpo=DpoIn(name="Délégué à la protection des données", email=email),
                contacts=[
                    ContactIn(
                        name="Direction juridique", email=email, role="legal", language=language
                    ),  # type: ignore[arg-type]
                ],
                contract=ContractIn(
                    reference=f"DEMO-{preset.upper()}-2025",
                    preset=preset,
                    start_date=date(2025, 1, 1),
                    end_date=date(2027, 12, 31),
                ),
            ),
            actor="system:demo",
            now=now,
        )
        created.append({"id": client["id"], "name": name, "preset": preset})
    app = build_sample_application([c["id"] for c in created])
    await configure_demo_sources([c["id"] for c in created], app, now)
    register = await build_demo_register([c["id"] for c in created], now)
    return {"clients": created, "sample_application": app, "register": register}


async def build_demo_register(client_ids: list[str], now: datetime) -> dict[str, str]:
    """One sub-processor and one register entry shared by every demo client.

    The entry follows the example of seed 004's DPA: staff data collected, recorded, consulted,
    communicated and erased for the client; hosting in France with failover in another EEA
    state; support from the USA under the 2021 standard contractual clauses.
    """
    from gdpr_vault.registers.schemas import ActivityIn, SubprocessorLinkIn, TransferIn
    from gdpr_vault.registers.service import create_activity
    from gdpr_vault.subprocessors.schemas import SubprocessorIn
    from gdpr_vault.subprocessors.service import create_subprocessor

    support = await create_subprocessor(
        SubprocessorIn(
            legal_name="Helpdesk Partners Inc.",
            country="US",
            address="100 Market Street, San Francisco, CA, USA",
            contact="privacy@helpdesk-partners.example",
            activities=["level-2 support"],
            data_categories=["identification", "connection data"],
            hosting_locations=["US"],
            transfer_mechanism="scc-2021-module-3",
            dpa_reference="DPA-HP-2025",
            status="active",
            client_ids=client_ids,
            active_since=now,
        ),
        "system:demo",
        now,
    )
    activity = await create_activity(
        ActivityIn(
            reference="APP-HOSTING",
            name="Hosting and operation of the safety-equipment application",
            reason="demo register",
            processing_operations=[
                "collection",
                "recording",
                "consultation",
                "communication",
                "erasure",
            ],
            purposes=["management of the client's safety equipment and its staff's training"],
            data_subject_categories=["the client's staff"],
            data_categories=["identification", "legal-obligation data", "connection data"],
            recipients_internal=["processor support and operations staff"],
            recipients_external=["Helpdesk Partners Inc. (level-2 support)"],
            retention="duration of the contract plus the restitution period",
            hosting_countries=["FR", "DE"],
            transfers=[
                TransferIn(
                    country="US",
                    recipient="Helpdesk Partners Inc.",
                    subprocessor_id=support["id"],
                    safeguard="scc-2021-module-3",
                    safeguard_reference="DPA-HP-2025, annex SCC",
                )
            ],
            security_measures=["encryption at rest and in transit", "role-based access"],
            availability_restoration="nightly backups restored within 4 hours (tested monthly)",
            security_testing="yearly penetration test and quarterly restore drills",
            client_ids=client_ids,
            subprocessors=[SubprocessorLinkIn(subprocessor_id=support["id"])],
        ),
        "system:demo",
        now,
    )
    return {"subprocessor": support["id"], "activity": activity["activity_id"]}


async def configure_demo_sources(client_ids: list[str], app: dict[str, str], now: datetime) -> None:
    """Point each demo client's reversibility sources at the sample application."""
    from gdpr_vault.reversibility.schemas import SourceIn, SourcesIn
    from gdpr_vault.reversibility.service import set_sources

    sql = f"sqlite://{Path(app['sql']).resolve()}?table=employees:tenant_id&table=badge_events:tenant_id"
    for client_id in client_ids:
        await set_sources(
            client_id,
            SourcesIn(sources=[SourceIn(url=app["files"]), SourceIn(url=sql)]),
            actor="system:demo",
            now=now,
        )
