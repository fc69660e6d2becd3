"""Request bodies for clients, contacts, contracts and amendments."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import msgspec

from gdpr_vault.inputs import Input

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
# People's names are stored in 200 characters (contacts, the client's DPO): a longer one was
# accepted here, then refused by PostgreSQL with a 500.
PersonName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Reason = Annotated[str, msgspec.Meta(min_length=3, max_length=2000)]


class ContactIn(Input):
    name: PersonName
    email: Annotated[str, msgspec.Meta(max_length=320)]
    role: Literal["privacy", "legal", "technical", "billing", "executive", "other"] = "privacy"
    language: Literal["fr", "en"] = "fr"
    receives_notices: bool = True


class DpoIn(Input):
    name: PersonName
    email: Annotated[str, msgspec.Meta(max_length=320)]


class ContractIn(Input):
    reference: ShortText
    preset: ShortText
    start_date: date
    end_date: date | None = None
    renewal: Literal["tacit", "none", "explicit"] = "tacit"
    time_zone: str | None = None
    overrides: dict[str, Any] = {}


class ClientIn(Input):
    legal_name: Name
    country: Annotated[str, msgspec.Meta(min_length=2, max_length=2)] = "FR"
    registration_scheme: Literal["SIREN", "SIRET", "VAT", "OTHER"] = "SIREN"
    registration_id: str | None = None
    language: Literal["fr", "en"] = "fr"
    dpo: DpoIn | None = None
    contacts: list[ContactIn] = []
    contract: ContractIn | None = None


class ClientPatch(Input):
    legal_name: Name | None = None
    language: Literal["fr", "en"] | None = None
    dpo: DpoIn | None = None


class AmendmentIn(Input):
    overrides: dict[str, Any]
    reason: Reason
