"""Register fixtures: the API fixtures, two sub-processors, and a complete Art. 30 entry."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.api.conftest import api, tokens  # noqa: F401


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def entry_body(**changes: object) -> dict:
    """A complete entry modelled on seed 004's DPA example."""
    body = {
        "reference": "RT-001",
        "name": "Hébergement et infogérance de l'application RH",
        "reason": "initial register",
        "description": "SaaS RH hébergé en France, secours dans un autre État de l'EEE",
        "processing_operations": ["collecte", "enregistrement", "consultation", "effacement"],
        "purposes": ["gestion du personnel du client"],
        "data_subject_categories": ["salariés du client"],
        "data_categories": ["identification", "données d'obligation légale", "connexion"],
        "recipients_internal": ["équipe d'exploitation"],
        "recipients_external": [],
        "retention": "durée du contrat + période de restitution",
        "hosting_countries": ["FR", "DE"],
        "transfers": [],
        "security_measures": ["chiffrement au repos", "MFA pour l'administration"],
        "availability_restoration": "sauvegardes nocturnes, PRA testé, RTO 4 h",
        "security_testing": "test d'intrusion annuel, test de restauration trimestriel",
    }
    body.update(changes)
    return body


@pytest.fixture
async def subprocessors(db):
    """An EEA host and a US support desk (no transfer mechanism recorded on the list)."""
    from gdpr_vault.subprocessors.tables import Subprocessor

    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = {
        "host": Subprocessor(
            id="spr_01jq0000000000000000000001",
            legal_name="Hébergeur Lyonnais SAS",
            country="FR",
            contact="dpo@hebergeur.example",
            hosting_locations=json.dumps(["FR", "DE"]),
            status="active",
            created_at=now,
            updated_at=now,
        ),
        "support": Subprocessor(
            id="spr_01jq0000000000000000000002",
            legal_name="Helpdesk Inc.",
            country="US",
            contact="privacy@helpdesk.example",
            hosting_locations=json.dumps(["US"]),
            transfer_mechanism=None,
            status="active",
            created_at=now,
            updated_at=now,
        ),
    }
    await Subprocessor.insert(*rows.values())
    return {key: row.id for key, row in rows.items()}
