"""Request bodies for the sub-processor list, changes, receipts, objections and activation.

Rules the product must name in its refusals (countries, transfer mechanisms, reasons, dates
against windows) are checked by the service, not here, so they leave as 422 with their rule.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from gdpr_vault.inputs import Input

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Text = Annotated[str, msgspec.Meta(max_length=2000)]
Item = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Items = Annotated[list[Item], msgspec.Meta(max_length=100)]
Country = Annotated[str, msgspec.Meta(max_length=10)]
Countries = Annotated[list[Country], msgspec.Meta(max_length=100)]
Ids = Annotated[list[Annotated[str, msgspec.Meta(max_length=40)]], msgspec.Meta(max_length=100_000)]
ActivityIds = Annotated[
    list[Annotated[str, msgspec.Meta(max_length=40)]], msgspec.Meta(max_length=1000)
]
ChangeKind = Literal["add", "replace", "remove", "relocate", "activities"]
Resolution = Literal["withdrawn", "change_abandoned", "not_applied", "client_terminates"]


class SubprocessorIn(Input):
    legal_name: Name
    country: Country
    address: Text = ""
    contact: Text = ""
    registration_id: Annotated[str, msgspec.Meta(max_length=60)] | None = None
    activities: Items = []
    data_categories: Items = []
    hosting_locations: Countries = []
    transfer_mechanism: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    dpa_reference: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    dpa_date: date | None = None
    #: ``active``: a sub-processor already in use when the list is first recorded; then
    #: ``client_ids`` are the clients whose data it already processes, since ``active_since``.
    status: Literal["proposed", "active"] = "proposed"
    client_ids: Ids = []
    active_since: datetime | None = None


class SubprocessorPatch(Input):
    """Identity, contact and contract edits; location and activities of an active
    sub-processor change only through a notified change."""

    legal_name: Name | None = None
    registration_id: Annotated[str, msgspec.Meta(max_length=60)] | None = None
    address: Text | None = None
    contact: Text | None = None
    dpa_reference: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    dpa_date: date | None = None
    data_categories: Items | None = None
    country: Country | None = None
    activities: Items | None = None
    hosting_locations: Countries | None = None
    transfer_mechanism: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class ChangeIn(Input):
    kind: ChangeKind
    subprocessor_id: Annotated[str, msgspec.Meta(max_length=40)]
    effective_date: date
    replaces_id: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    #: The activities, data and hosting after the change; default: the sub-processor's own.
    activities: Items | None = None
    data_categories: Items | None = None
    hosting_locations: Countries | None = None
    transfer_mechanism: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    summary: Text = ""
    #: The affected clients; empty: derived from who uses the sub-processor now.
    client_ids: Ids = []
    #: Art. 30 register activities the sub-processor will serve (``add``, ``replace``,
    #: ``activities``): on activation each is updated for the clients it is carried out for.
    activity_ids: ActivityIds = []


class ChangePatch(Input):
    """Before publication anything below; after it, only a later effective date."""

    effective_date: date | None = None
    summary: Text | None = None
    activities: Items | None = None
    data_categories: Items | None = None
    hosting_locations: Countries | None = None
    transfer_mechanism: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    client_ids: Ids | None = None
    activity_ids: ActivityIds | None = None


class ReceiptIn(Input):
    client_id: Annotated[str, msgspec.Meta(max_length=40)]
    received_at: datetime
    evidence: Text | None = None


class ObjectionIn(Input):
    reasons: Annotated[str, msgspec.Meta(max_length=10_000)] = ""
    #: When a written objection reached the processor (DPO entry); default: now.
    received_at: datetime | None = None


class DpoObjectionIn(Input):
    client_id: Annotated[str, msgspec.Meta(max_length=40)]
    reasons: Annotated[str, msgspec.Meta(max_length=10_000)] = ""
    received_at: datetime | None = None


class ResolutionIn(Input):
    resolution: Resolution
    note: Text = ""


class ActivationIn(Input):
    #: None: every client whose window closed without an open objection; a list: all of them
    #: or none (409 naming each client that may not be activated, and why).
    client_ids: Ids | None = None


class AbandonIn(Input):
    reason: Text = ""
