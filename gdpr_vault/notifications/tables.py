"""Notices, their outbox messages, receipts, and the clients' webhook endpoints.

A notice is one thing said to one client (or to the processor's DPO); each recipient x channel
gets one outbox message holding the exact bytes that will be sent and their SHA-256, so what
was said can be proven later and a resend after a crash sends the very same bytes.
"""

from piccolo.columns import Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table

from gdpr_vault.contracts.tables import Client


class WebhookEndpoint(Table, tablename="webhook_endpoint"):
    id = Varchar(length=40, primary_key=True)
    client = ForeignKey(references=Client, null=False, index=True)
    url = Varchar(length=2000)
    description = Varchar(length=200, default="")
    secret = Varchar(length=100)  # whsec_<base64>; needed in clear to sign, never returned
    previous_secret = Varchar(length=100, null=True, default=None)
    previous_secret_until = Timestamptz(null=True, default=None)
    active = Boolean(default=True)
    created_at = Timestamptz()
    created_by = Varchar(length=100)
    rotated_at = Timestamptz(null=True, default=None)


class Notice(Table, tablename="notice"):
    id = Varchar(length=40, primary_key=True)
    client_id = Varchar(length=40, null=True, index=True)  # None: an alert to our own DPO
    kind = Varchar(length=80, index=True)
    subject_type = Varchar(length=40)
    subject_id = Varchar(length=80)
    facts_json = Text(default="{}")
    requires_receipt = Boolean(default=True)
    dedupe_key = Varchar(length=200, null=True, default=None, unique=True)
    created_at = Timestamptz()
    created_by = Varchar(length=100)
    received_at = Timestamptz(null=True, default=None)
    receipt_method = Varchar(length=20, null=True, default=None)


class OutboxMessage(Table, tablename="outbox_message"):
    id = Varchar(length=40, primary_key=True)  # stable: webhook-id and e-mail Message-ID
    notice = ForeignKey(references=Notice, null=False, index=True)
    client_id = Varchar(length=40, null=True, index=True)
    channel = Varchar(length=10)  # email | webhook
    recipient = Text()  # an e-mail address or a webhook endpoint id; never in the trail
    endpoint_id = Varchar(length=40, null=True, default=None)
    language = Varchar(length=2)
    subject = Text(default="")
    content = Text()  # the exact bytes sent (ASCII: MIME or JSON), decoded as ASCII
    content_type = Varchar(length=60)
    sha256 = Varchar(length=64)
    status = Varchar(length=12, default="pending", index=True)  # pending|sending|sent|dead
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(index=True)
    lease_until = Timestamptz(null=True, default=None)
    locked_by = Varchar(length=100, null=True, default=None)
    last_error = Text(null=True, default=None)
    sent_at = Timestamptz(null=True, default=None)
    accepted_at = Timestamptz(null=True, default=None)
    acceptance = Text(null=True, default=None)  # the SMTP reply or the HTTP status
    created_at = Timestamptz()


class NoticeReceipt(Table, tablename="notice_receipt"):
    id = Varchar(length=40, primary_key=True)
    notice = ForeignKey(references=Notice, null=False, index=True)
    message_id = Varchar(length=40, null=True, default=None)
    received_at = Timestamptz()
    method = Varchar(length=20)  # link | api | dpo_entry
    actor = Varchar(length=100)
    evidence = Text(null=True, default=None)
    first = Boolean(default=False)
    recorded_at = Timestamptz()
