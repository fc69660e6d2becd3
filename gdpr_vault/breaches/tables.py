"""Breach log (Art. 33(5)), versioned facts, per-client notice obligations and sent notices."""

from piccolo.columns import (
    Boolean,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from gdpr_vault.contracts.tables import Client, Contract


class Breach(Table, tablename="breach"):
    """One incident. Its facts live in ``BreachFactsVersion``; a few are copied here to list."""

    id = Varchar(length=40, primary_key=True)
    title = Varchar(length=200)
    status = Varchar(length=12, default="open", index=True)  # open | closed
    occurred_at = Timestamptz(null=True, default=None)
    aware_at = Timestamptz()
    current_version = Integer(default=1)
    created_at = Timestamptz()
    created_by = Varchar(length=100)
    closed_at = Timestamptz(null=True, default=None)
    closed_by = Varchar(length=100, null=True, default=None)
    remedial_actions_json = Text(default="[]")
    summary = Text(null=True, default=None)


class BreachFactsVersion(Table, tablename="breach_facts_version"):
    """The facts as known at a moment; a correction adds a version, nothing is overwritten."""

    id = Varchar(length=40, primary_key=True)
    breach = ForeignKey(references=Breach, null=False, index=True)
    version = Integer()
    facts_json = Text()
    reason = Text()
    author = Varchar(length=100)
    created_at = Timestamptz()


class BreachObligation(Table, tablename="breach_obligation"):
    """One affected client: its notice deadline, computed from its own contract."""

    id = Varchar(length=40, primary_key=True)
    breach = ForeignKey(references=Breach, null=False, index=True)
    client = ForeignKey(references=Client, null=False, index=True)
    contract = ForeignKey(references=Contract, null=True, default=None)
    terms_version = Integer(null=True, default=None)
    duration = Varchar(length=60)
    duration_source = Varchar(length=20)  # contract | product_default
    clause = Text()
    time_zone = Varchar(length=64)
    calendar = Varchar(length=20)
    business_hours = Varchar(length=100, null=True, default=None)
    extend = Boolean(default=False)
    start_at = Timestamptz()
    due_at = Timestamptz()
    due_display = Varchar(length=80)
    explanation_json = Text()
    status = Varchar(length=12, default="pending", index=True)  # pending | notified
    initial_notice = Varchar(length=40, null=True, default=None)
    notified_at = Timestamptz(null=True, default=None)
    late_by_seconds = Integer(null=True, default=None)
    late_reason = Text(null=True, default=None)
    marked_at = Timestamptz()
    marked_by = Varchar(length=100)


class BreachNotice(Table, tablename="breach_notice"):
    """A notice sent to one client: initial or a follow-up linked to the initial one."""

    id = Varchar(length=40, primary_key=True)
    breach = ForeignKey(references=Breach, null=False, index=True)
    obligation = ForeignKey(references=BreachObligation, null=False, index=True)
    client = ForeignKey(references=Client, null=False, index=True)
    phase = Varchar(length=12)  # initial | followup
    sequence = Integer()  # 0 for the initial notice, then 1, 2, ...
    parent_notice = Varchar(length=40, null=True, default=None)
    facts_version = Integer()
    content_json = Text()  # what the client received (its view of the facts, CNIL structure)
    missing_json = Text(default="[]")  # Art. 33(3) items still missing when it left
    message = Text(null=True, default=None)
    notification_id = Varchar(length=60, null=True, default=None)
    channels_json = Text(default="[]")
    sent_at = Timestamptz()
    sent_by = Varchar(length=100)
    late_by_seconds = Integer(null=True, default=None)
    late_reason = Text(null=True, default=None)
