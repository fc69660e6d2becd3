"""The bytes a recipient gets: a MIME e-mail or a JSON webhook body, plus receipt tokens and
Standard Webhooks signatures. Pure functions: no database, no clock of their own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache
from typing import Any

from gdpr_vault.settings import get_settings
from gdpr_vault.timeutil import utc_iso


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def message_id_header(message_id: str, sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "gdpr-vault.invalid"
    return f"<{message_id}@{domain}>"


def build_email(
    *,
    message_id: str,
    notice_id: str,
    sender: str,
    to_name: str,
    to_email: str,
    subject: str,
    text: str,
    html: str | None,
    attachments: Sequence[Attachment],
    date: datetime,
) -> bytes:
    """The whole RFC 5322 message, Message-ID included, so a resend is byte-identical."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    local, _, domain = to_email.rpartition("@")
    msg["To"] = Address(display_name=to_name, username=local, domain=domain)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id_header(message_id, sender)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-GDPR-Vault-Notice"] = notice_id
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    for item in attachments:
        maintype, _, subtype = item.content_type.partition("/")
        msg.add_attachment(
            item.data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=item.filename,
        )
    return msg.as_bytes(policy=policy.SMTP)


def build_webhook_body(
    *,
    kind: str,
    created_at: datetime,
    notice: Mapping[str, Any],
    language: str,
    subject: str,
    text: str,
    receipt_url: str | None,
    attachments: Sequence[Attachment],
) -> bytes:
    """A Standard Webhooks payload: ``{"type", "timestamp", "data"}``, compact JSON, UTF-8."""
    payload = {
        "type": kind,
        "timestamp": utc_iso(created_at),
        "data": {
            **notice,
            "language": language,
            "subject": subject,
            "text": text,
            "receipt_url": receipt_url,
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": len(a.data),
                    "sha256": sha256_hex(a.data),
                    "content_base64": base64.b64encode(a.data).decode("ascii"),
                }
                for a in attachments
            ],
        },
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- receipt links -------------------------------------------------------------------------


@cache
def _receipt_key(secret: str, key_path: str) -> bytes:
    if secret:
        return hashlib.sha256(b"gdpr-vault receipt-link v1\n" + secret.encode()).digest()
    from cryptography.hazmat.primitives import serialization

    from gdpr_vault.evidence.keys import service_signing_key

    raw = service_signing_key().private_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    # A separate key derived from the signing key: the link MAC never reuses the Ed25519 seed.
    return hmac.new(raw, b"gdpr-vault receipt-link v1", hashlib.sha256).digest()


def receipt_key() -> bytes:
    settings = get_settings()
    return _receipt_key(settings.receipt_secret, str(settings.effective_signing_key_path))


def receipt_token(message_id: str) -> str:
    mac = hmac.new(receipt_key(), message_id.encode(), hashlib.sha256).digest()
    return f"{message_id}.{base64.urlsafe_b64encode(mac).decode('ascii').rstrip('=')}"


def message_id_of_token(token: str) -> str | None:
    """The message id a receipt token was issued for, or None when it is not ours."""
    message_id, _, _ = token.partition(".")
    if not message_id or len(token) > 200:
        return None
    return message_id if hmac.compare_digest(receipt_token(message_id), token) else None


def receipt_url(message_id: str) -> str:
    base = get_settings().public_base_url.rstrip("/")
    return f"{base}/api/v1/receipts/{receipt_token(message_id)}"


# --- Standard Webhooks signatures -----------------------------------------------------------

SECRET_PREFIX = "whsec_"


def new_webhook_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def webhook_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def webhook_headers(
    secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Headers for one attempt; during a rotation every live secret signs (space-separated)."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            webhook_signature(s, msg_id, timestamp, body) for s in secrets_
        ),
    }
