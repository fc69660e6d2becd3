"""Audit requests, their findings, and the log of every request an auditor token made."""

from piccolo.columns import BigInt, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table

from gdpr_vault.contracts.tables import Client, Contract


class Audit(Table, tablename="audit"):
    """One audit, from the request to its closure; the auditor's identity is kept here only."""

    id = Varchar(length=40, primary_key=True)
    client = ForeignKey(references=Client, null=False, index=True)
    contract = ForeignKey(references=Contract, null=False)
    terms_version = Integer()
    status = Varchar(length=12, default="requested", index=True)
    kind = Varchar(length=12)  # on_site | documentary
    scope_text = Text()
    areas_json = Text(default="[]")
    auditor_name = Varchar(length=200)
    auditor_email = Varchar(length=320)
    auditor_firm = Varchar(length=200)
    proposed_start = Timestamptz()
    proposed_end = Timestamptz()
    start_at = Timestamptz(null=True, default=None)  # agreed at acceptance
    end_at = Timestamptz(null=True, default=None)  # the auditor token expires then
    requested_at = Timestamptz()
    requested_by = Varchar(length=100)
    decision_due_at = Timestamptz()
    decision_due_display = Varchar(length=80)
    decision_due_explanation_json = Text(default="[]")
    proposal_json = Text(default="{}")
    decision = Varchar(length=8, null=True, default=None)  # accept | refuse
    decision_reason = Text(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    decided_by = Varchar(length=100, null=True, default=None)
    auditor_token_id = Varchar(length=40, null=True, default=None, index=True)
    schedule_notes = Text(null=True, default=None)
    started_at = Timestamptz(null=True, default=None)
    reported_at = Timestamptz(null=True, default=None)
    report_summary = Text(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()


class AuditFinding(Table, tablename="audit_finding"):
    """A finding and its remediation: open → in_progress → resolved (with evidence)."""

    id = Varchar(length=40, primary_key=True)
    audit = ForeignKey(references=Audit, null=False, index=True)
    client = ForeignKey(references=Client, null=False, index=True)
    severity = Varchar(length=10)
    description = Text()
    owner = Varchar(length=200)
    status = Varchar(length=12, default="open", index=True)
    due_at = Timestamptz()
    due_display = Varchar(length=80)
    due_source = Varchar(length=20)  # product_default | set_by_dpo
    due_explanation_json = Text(default="[]")
    terms_version = Integer()
    created_at = Timestamptz()
    created_by = Varchar(length=100)
    resolution_evidence = Text(null=True, default=None)
    resolved_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()


class AuditorAccess(Table, tablename="audit_auditor_access"):
    """One request made with an auditor token (no query values, no bodies): the client's view
    of who accessed what. The same facts are in the trail event ``trail_seq``."""

    id = Varchar(length=40, primary_key=True)
    client = ForeignKey(references=Client, null=False, index=True)
    token_id = Varchar(length=40, index=True)
    audit_id = Varchar(length=40, null=True, default=None)
    method = Varchar(length=10)
    path = Varchar(length=500)
    route = Varchar(length=300)
    query_keys = Varchar(length=300, default="")
    status = Integer()
    occurred_at = Timestamptz()
    trail_seq = BigInt()
