"""The bytes a recipient gets: a MIME e-mail or a JSON webhook body, plus receipt tokens and
Standard Webhooks signatures. Pure functions: no database, no clock of their own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy, quoprimime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache, lru_cache
from typing import Any

from gdpr_vault.settings import Settings, get_settings
from gdpr_vault.timeutil import utc_iso


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@lru_cache(maxsize=64)
def _sender_domain(sender: str) -> str:
    """Parsed once per sender: a fan-out sends thousands of messages from one address."""
    return parseaddr(sender)[1].rpartition("@")[2] or "gdpr-vault.invalid"


def message_id_header(message_id: str, sender: str) -> str:
    return f"<{message_id}@{_sender_domain(sender)}>"


def _boundaries(message_id: str) -> tuple[str, str]:
    """Deterministic multipart boundaries: the message is a pure function of its inputs.

    ``=_`` cannot occur in quoted-printable or base64 text, so a boundary starting with it never
    collides with a body line (RFC 2045 6.7, RFC 2046 5.1.1).
    """
    tag = hashlib.sha256(message_id.encode()).hexdigest()[:16]
    return f"=_{tag}_m", f"=_{tag}_a"


def build_email_reference(
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
    """The whole RFC 5322 message built by the standard library (slow; the reference).

    :func:`build_email` produces the very same bytes faster for the usual shapes and falls back
    to this for anything else; ``tests/notifications/test_mime.py`` holds them equal.
    """
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
    mixed, alternative = _boundaries(message_id)
    for part in msg.walk():
        if part.get_content_type() == "multipart/mixed":
            part.set_boundary(mixed)
        elif part.get_content_type() == "multipart/alternative":
            part.set_boundary(alternative)
    return msg.as_bytes(policy=policy.SMTP)


# --- the fast path: the same bytes as the reference, without the email package's parsers ---

_CRLF = "\r\n"
_MAX_LINE = policy.SMTP.max_line_length  # 78
_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/^_`{|}~")
_TOKEN = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")
_FILENAME = frozenset(string.ascii_letters + string.digits + "-_.+ ")
_TEXT_HEADERS = (
    'Content-Type: text/plain; charset="utf-8"'
    + _CRLF
    + "Content-Transfer-Encoding: quoted-printable"
    + _CRLF
)
_HTML_HEADERS = (
    'Content-Type: text/html; charset="utf-8"'
    + _CRLF
    + "Content-Transfer-Encoding: quoted-printable"
    + _CRLF
)
_MIME_VERSION = "MIME-Version: 1.0" + _CRLF


@lru_cache(maxsize=2048)
def _folded(name: str, value: str) -> str:
    """One header exactly as the standard library folds it under ``policy.SMTP``."""
    msg = EmailMessage(policy=policy.SMTP)
    msg[name] = value
    return policy.SMTP.fold_binary(name, msg[name]).decode("ascii")


_last_date: tuple[datetime, str] | None = None


def _date_header(date: datetime) -> str:
    """A fan-out's messages share their date: it is formatted and folded once. Keyed by the
    ISO text, which carries the offset: equal instants in two zones are different headers;
    the very same object as the last call's needs no key at all."""
    global _last_date
    if _last_date is not None and _last_date[0] is date:
        return _last_date[1]
    header = _date_header_of(date.isoformat(), date)
    _last_date = (date, header)
    return header


@lru_cache(maxsize=64)
def _date_header_of(_iso: str, date: datetime) -> str:
    return _folded("Date", format_datetime(date))


def _to_header(to_name: str, to_email: str) -> str:
    """``To:`` for plain ASCII names and addresses; the standard library for anything else."""
    local, _, domain = to_email.rpartition("@")
    words = to_name.split(" ")
    simple = (
        local
        and domain
        and all(part and _ATEXT.issuperset(part) for part in local.split("."))
        and all(part and _ATEXT.issuperset(part) for part in domain.split("."))
        and (not to_name or all(w and _ATEXT.issuperset(w) for w in words))
    )
    if simple:
        line = f"To: {to_name} <{to_email}>" if to_name else f"To: {to_email}"
        if len(line) <= _MAX_LINE:
            return line + _CRLF
    msg = EmailMessage(policy=policy.SMTP)
    msg["To"] = Address(display_name=to_name, username=local, domain=domain)
    return policy.SMTP.fold_binary("To", msg["To"]).decode("ascii")


def _plain_header(name: str, value: str) -> str:
    """A short ASCII token header (ids) as-is; anything else through the standard library."""
    if " " not in value and value.isascii() and value.isprintable() and "=?" not in value:
        line = f"{name}: {value}"
        if len(line) <= _MAX_LINE:
            return line + _CRLF
    return _folded(name, value)


def _qp_line(line: bytes) -> str:
    """One line of a quoted-printable body, as ``email.contentmanager`` encodes it."""
    return quoprimime.body_encode(line.decode("latin-1"), _MAX_LINE).replace("\n", _CRLF)


# Bytes quoted-printable leaves as they are (RFC 2045 6.7 rule 2, minus '='); a line made only
# of them, short enough and not ending in white space, is its own encoding.
_QP_LITERAL = frozenset(range(33, 127)) - {ord("=")} | {ord(" "), ord("\t")}


#: Each byte as quoted-printable writes it: itself when literal, ``=XX`` otherwise.
_QP_BYTES = {b: chr(b) if b in _QP_LITERAL else f"={b:02X}" for b in range(256)}


def _qp(line: bytes) -> str:
    if len(line) < _MAX_LINE and _QP_LITERAL.issuperset(line) and not line.endswith((b" ", b"\t")):
        return line.decode("ascii")
    # byte by byte, as body_encode escapes before it wraps; a line ending in white space
    # (which body_encode treats apart) goes to the encoder itself
    encoded = line.decode("latin-1").translate(_QP_BYTES)
    if encoded.endswith((" ", "\t")):
        return _qp_line(line)
    return encoded if len(encoded) <= _MAX_LINE else _soft_wrap(encoded)


def _soft_wrap(encoded: str) -> str:
    """``quoprimime.body_encode``'s soft line breaks for one escaped line that does not end in
    white space: the same cuts (never inside an ``=XX``), with CRLF line ends."""
    width = _MAX_LINE - 1  # room for the '=' that ends each cut line
    out: list[str] = []
    start = 0
    last_start = len(encoded) - 1 - _MAX_LINE
    while start <= last_start:
        stop = start + width
        if encoded[stop - 2] == "=":
            out.append(encoded[start : stop - 1])
            start = stop - 2
        elif encoded[stop - 1] == "=":
            out.append(encoded[start:stop])
            start = stop - 1
        else:
            out.append(encoded[start:stop] + "=")
            start = stop
    out.append(encoded[start:])
    return _CRLF.join(out)


def _qp_escaped(text: str) -> str:
    """``text`` (no line breaks) with every byte quoted-printable escapes written as ``=XX``."""
    return text.encode("utf-8").decode("latin-1").translate(_QP_BYTES)


#: Encoded lines by their bytes: a fan-out's notices share most of their lines, so each is
#: encoded once; cleared when full (a recipient's own lines would otherwise pile up).
_QP_CACHE: dict[bytes, str] = {}
_QP_CACHE_MAX = 65_536


def _qp_cached(line: bytes) -> str:
    encoded = _QP_CACHE.get(line)
    if encoded is None:
        encoded = _qp(line)
        if len(_QP_CACHE) >= _QP_CACHE_MAX:
            _QP_CACHE.clear()
        _QP_CACHE[line] = encoded
    return encoded


def _qp_body(text: str) -> str:
    # what email.contentmanager does for cte="quoted-printable", line by line (body_encode
    # encodes each line on its own), with the generator's CRLF line ends
    lines = text.encode("utf-8").splitlines()
    get = _QP_CACHE.get
    return _CRLF.join([get(line) or _qp_cached(line) for line in lines]) + _CRLF


def _attachment_part(item: Attachment) -> str | None:
    """What ``add_attachment`` writes for simple names and types; None: use the reference."""
    maintype, _, subtype = item.content_type.partition("/")
    maintype, subtype = maintype or "application", subtype or "octet-stream"
    content_type = f"Content-Type: {maintype}/{subtype}"
    disposition = f'Content-Disposition: attachment; filename="{item.filename}"'
    if not (
        item.data
        and _TOKEN.issuperset(maintype)
        and _TOKEN.issuperset(subtype)
        and item.filename
        and _FILENAME.issuperset(item.filename)
        and item.filename.strip() == item.filename
        and "  " not in item.filename
        and len(content_type) <= _MAX_LINE
        and len(disposition) <= _MAX_LINE
    ):
        return None
    step = _MAX_LINE // 4 * 3
    body = "".join(
        binascii.b2a_base64(item.data[i : i + step]).decode("ascii")
        for i in range(0, len(item.data), step)
    ).replace("\n", _CRLF)
    return (
        content_type
        + _CRLF
        + "Content-Transfer-Encoding: base64"
        + _CRLF
        + disposition
        + _CRLF
        + _MIME_VERSION
        + _CRLF
        + body
    )


def _multipart(content_type: str, boundary: str, parts: Sequence[str]) -> tuple[str, str]:
    header = f'Content-Type: {content_type}; boundary="{boundary}"' + _CRLF
    body = f"--{boundary}{_CRLF}" + f"{_CRLF}--{boundary}{_CRLF}".join(parts)
    return header, body + f"{_CRLF}--{boundary}--{_CRLF}"


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
    """The whole RFC 5322 message, Message-ID included, so a resend is byte-identical.

    Byte for byte what :func:`build_email_reference` (the standard library) builds, about a
    hundred times faster: headers that are plain ASCII are written directly and the others
    folded by the standard library (From, Subject and Date once per value); body lines are
    quoted-printable encoded once per distinct line.
    """
    envelope: dict[str, Any] = {
        "message_id": message_id,
        "notice_id": notice_id,
        "sender": sender,
        "to_name": to_name,
        "to_email": to_email,
        "subject": subject,
        "date": date,
    }
    attached = [_attachment_part(a) for a in attachments]
    if any(part is None for part in attached):
        return build_email_reference(**envelope, text=text, html=html, attachments=attachments)
    return build_encoded_email(
        **envelope,
        text_body=_qp_body(text),
        html_body=_qp_body(html) if html is not None else None,
        attached=[part for part in attached if part is not None],
    )


def build_encoded_email(
    *,
    message_id: str,
    notice_id: str,
    sender: str,
    to_name: str,
    to_email: str,
    subject: str,
    text_body: str,
    html_body: str | None,
    date: datetime,
    attached: Sequence[str] = (),
) -> bytes:
    """:func:`build_email` from bodies already quoted-printable encoded (as ``_qp_body``
    encodes them) and attachment parts already written: a fan-out encodes what its messages
    share once (:class:`BodyPlan`)."""
    head = (
        _folded("From", sender)
        + _to_header(to_name, to_email)
        + _folded("Subject", subject)
        + _date_header(date)
        + _plain_header("Message-ID", message_id_header(message_id, sender))
        + "Auto-Submitted: auto-generated"
        + _CRLF
        + _plain_header("X-GDPR-Vault-Notice", notice_id)
    )
    if html_body is None and not attached:  # a single text/plain part: MIME-Version comes last
        return (head + _TEXT_HEADERS + _MIME_VERSION + _CRLF + text_body).encode("ascii")
    mixed, alternative = _boundaries(message_id)
    text_part = content = _TEXT_HEADERS + _CRLF + text_body
    if html_body is not None:
        html_part = _HTML_HEADERS + _MIME_VERSION + _CRLF + html_body
        header, body = _multipart("multipart/alternative", alternative, [text_part, html_part])
        content = header + _CRLF + body
    if attached:
        header, body = _multipart("multipart/mixed", mixed, [content, *attached])
        content = header + _CRLF + body
    message = head + _MIME_VERSION + content
    return message.encode("ascii")


#: One line of a body as parts: literal text, or the number of the value that goes there.
LineParts = Sequence[str | int]


@dataclass(frozen=True)
class _SlotLine:
    """A body line that holds values: its parts as written and, for the literal ones, as
    escaped (a value of plain printable ASCII is its own encoding and goes in as it is)."""

    parts: tuple[str | int, ...]
    escaped: tuple[str | int, ...]

    def encode(self, values: Sequence[str]) -> str | None:
        pieces: list[str] = []
        for part in self.escaped:
            if isinstance(part, str):
                pieces.append(part)
                continue
            value = values[part]
            if not (value.isascii() and value.isprintable() and "=" not in value):
                return self._encode_whole(values)
            pieces.append(value)
        encoded = "".join(pieces)
        if encoded.endswith((" ", "\t")):
            return self._encode_whole(values)
        return encoded if len(encoded) <= _MAX_LINE else _soft_wrap(encoded)

    def _encode_whole(self, values: Sequence[str]) -> str | None:
        line = "".join([values[p] if isinstance(p, int) else p for p in self.parts])
        if "\n" in line or "\r" in line:
            return None
        return _qp(line.encode("utf-8"))


@dataclass(frozen=True)
class BodyPlan:
    """A body shared by a group of messages, encoded once: runs of lines without values are
    kept quoted-printable encoded; only the lines that hold values are encoded per message.

    Holding the values to lines is what makes this the same encoding: a value without line
    breaks leaves the body's lines where they are, and quoted-printable encodes (and wraps)
    each line on its own. :meth:`encode` returns None for a value with a line break."""

    pieces: tuple[str | _SlotLine, ...]

    @classmethod
    def of(cls, lines: Sequence[LineParts]) -> BodyPlan:
        pieces: list[str | _SlotLine] = []
        run: list[str] = []
        for parts in lines:
            if all(isinstance(p, str) for p in parts):
                run.append(_qp_cached("".join(map(str, parts)).encode("utf-8")) + _CRLF)
                continue
            if run:
                pieces.append("".join(run))
                run = []
            escaped = tuple(_qp_escaped(p) if isinstance(p, str) else p for p in parts)
            pieces.append(_SlotLine(tuple(parts), escaped))
        if run or not lines:  # an empty body is one line end, as _qp_body writes it
            pieces.append("".join(run) or _CRLF)
        return cls(tuple(pieces))

    def encode(self, values: Sequence[str]) -> str | None:
        out: list[str] = []
        for piece in self.pieces:
            if isinstance(piece, str):
                out.append(piece)
                continue
            line = piece.encode(values)
            if line is None:
                return None
            out.append(line + _CRLF)
        return "".join(out)


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


_last_key: tuple[Settings, bytes] | None = None


def receipt_key() -> bytes:
    """The receipt-link key of the current settings; remembered for the last settings object
    (frozen), so a fan-out does not rebuild the key's path for every message."""
    global _last_key
    settings = get_settings()
    if _last_key is None or _last_key[0] is not settings:
        key = _receipt_key(settings.receipt_secret, str(settings.effective_signing_key_path))
        _last_key = (settings, key)
    return _last_key[1]


def receipt_token(message_id: str) -> str:
    mac = hmac.digest(receipt_key(), message_id.encode(), "sha256")  # one C call
    return f"{message_id}.{base64.urlsafe_b64encode(mac).decode('ascii').rstrip('=')}"


def message_id_of_token(token: str) -> str | None:
    """The message id a receipt token was issued for, or None when it is not ours."""
    message_id, _, _ = token.partition(".")
    if not message_id or len(token) > 200 or not token.isascii():
        return None  # compare_digest refuses non-ASCII str: such a token is simply not ours
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
