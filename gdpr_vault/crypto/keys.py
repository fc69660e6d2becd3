"""Per-client 256-bit data keys: created on first use, kept only wrapped, destroyed on erasure.

Wrapping (docs/adr/0004-crypto-erasure.md):

- default: AES-256-GCM under the master key (:mod:`gdpr_vault.crypto.master`);
- ``KMS_KEY_ID=<key id, ARN or alias>``: ``kms.encrypt`` under that shared KMS key;
- ``KMS_KEY_ID=per-client``: a KMS key created for the client alone wraps its data key, and the
  crypto-erase schedules that KMS key's deletion (``KMS_DELETION_WINDOW_DAYS``, 7-30), after which
  every copy of the wrapped key, in the database or in any backup of it, is useless.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread

from gdpr_vault.crypto import master
from gdpr_vault.crypto.tables import ClientDataKey
from gdpr_vault.ids import new_id
from gdpr_vault.settings import get_settings

PER_CLIENT = "per-client"


class DataKeyDestroyed(LookupError):
    """The client's data key was crypto-erased (or never existed): its ciphertexts are dead."""


@dataclass(frozen=True)
class DataKey:
    key_id: str
    key: bytes

    def __repr__(self) -> str:  # never print key material
        return f"DataKey({self.key_id})"


@dataclass(frozen=True)
class EraseReport:
    key_id: str
    method: str
    wrapping_key_id: str
    kms_key_deletion_date: datetime | None
    wrapping_key_shared: bool

    def to_dict(self) -> dict[str, Any]:
        from gdpr_vault.timeutil import utc_iso

        return {
            "data_key_id": self.key_id,
            "wrapping": self.method,
            "wrapping_key_shared": self.wrapping_key_shared,
            "kms_key_deletion_date": utc_iso(self.kms_key_deletion_date),
        }


def _aad(client_id: str, key_id: str) -> bytes:
    return f"gdpr-vault data key|{client_id}|{key_id}".encode()


def kms_client() -> Any:
    import boto3

    settings = get_settings()
    kwargs: dict[str, Any] = {}
    if settings.kms_endpoint_url:
        kwargs["endpoint_url"] = settings.kms_endpoint_url
    if settings.kms_region:
        kwargs["region_name"] = settings.kms_region
    return boto3.session.Session().client("kms", **kwargs)


def _wrap(client_id: str, key_id: str, key: bytes) -> tuple[str, str, str, str]:
    """(method, wrapped, wrapping key id, dedicated) for a new key; blocking (KMS calls)."""
    kms_key = get_settings().kms_key_id
    if not kms_key:
        return (
            "master-aes-gcm",
            master.seal(key, _aad(client_id, key_id)),
            master.master_key_id(),
            "no",
        )
    kms = kms_client()
    dedicated = "no"
    if kms_key == PER_CLIENT:
        created = kms.create_key(
            Description=f"gdpr-vault: wraps the data key {key_id} of client {client_id}",
            KeyUsage="ENCRYPT_DECRYPT",
            Tags=[
                {"TagKey": "gdpr-vault:client", "TagValue": client_id},
                {"TagKey": "gdpr-vault:data-key", "TagValue": key_id},
            ],
        )
        kms_key = created["KeyMetadata"]["KeyId"]
        dedicated = "yes"
    answer = kms.encrypt(
        KeyId=kms_key, Plaintext=key, EncryptionContext={"client": client_id, "key": key_id}
    )
    wrapped = base64.b64encode(answer["CiphertextBlob"]).decode("ascii")
    # A dedicated key is kept by its id (to schedule its deletion); a shared one as KMS names it.
    return (
        "kms",
        wrapped,
        kms_key if dedicated == "yes" else answer.get("KeyId", kms_key),
        dedicated,
    )


def _unwrap(row: dict[str, Any]) -> bytes:
    if row["method"] == "master-aes-gcm":
        return master.unseal(row["wrapped_key"], _aad(row["client_id"], row["id"]))
    answer = kms_client().decrypt(
        CiphertextBlob=base64.b64decode(row["wrapped_key"]),
        KeyId=row["wrapping_key_id"],
        EncryptionContext={"client": row["client_id"], "key": row["id"]},
    )
    return bytes(answer["Plaintext"])


async def get_or_create(client_id: str, now: datetime) -> DataKey:
    """The client's data key, created (random, 256 bits) the first time it is needed."""
    row = await ClientDataKey.select().where(ClientDataKey.client_id == client_id).first()
    if row is not None:
        return await load(client_id)
    key_id = new_id("dk")
    key = os.urandom(32)
    method, wrapped, wrapping_key_id, dedicated = await anyio.to_thread.run_sync(
        _wrap, client_id, key_id, key
    )
    await ClientDataKey.insert(
        ClientDataKey(
            id=key_id,
            client_id=client_id,
            method=method,
            wrapped_key=wrapped,
            wrapping_key_id=wrapping_key_id,
            kms_dedicated=dedicated,
            created_at=now,
        )
    )
    return DataKey(key_id, key)


async def load(client_id: str, key_id: str | None = None) -> DataKey:
    row = await ClientDataKey.select().where(ClientDataKey.client_id == client_id).first()
    if row is None or (key_id is not None and row["id"] != key_id):
        raise DataKeyDestroyed(f"no data key {key_id or ''} for client {client_id}".strip())
    key = await anyio.to_thread.run_sync(_unwrap, row)
    return DataKey(row["id"], key)


async def key_info(client_id: str) -> dict[str, Any] | None:
    row = (
        await ClientDataKey.select(
            ClientDataKey.id, ClientDataKey.method, ClientDataKey.kms_dedicated
        )
        .where(ClientDataKey.client_id == client_id)
        .first()
    )
    return row


def _schedule_deletion(wrapping_key_id: str, now: datetime) -> datetime:
    from botocore.exceptions import ClientError

    days = min(30, max(7, get_settings().kms_deletion_window_days))
    kms = kms_client()
    try:
        answer = kms.schedule_key_deletion(KeyId=wrapping_key_id, PendingWindowInDays=days)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "KMSInvalidStateException":
            raise
        # Already pending (a rerun after a crash): report the date KMS already set.
        answer = kms.describe_key(KeyId=wrapping_key_id)["KeyMetadata"]
    when = answer.get("DeletionDate")
    return when if isinstance(when, datetime) else now + timedelta(days=days)


async def crypto_erase(client_id: str, now: datetime) -> EraseReport | None:
    """Destroy the wrapped key row; with a dedicated KMS key, schedule that key's deletion.

    Returns ``None`` when there is no key (already erased: the call is idempotent). Run inside
    the caller's transaction; the KMS call happens first so a failure leaves the row in place.
    """
    row = await ClientDataKey.select().where(ClientDataKey.client_id == client_id).first()
    if row is None:
        return None
    deletion = None
    dedicated = row["method"] == "kms" and row["kms_dedicated"] == "yes"
    if dedicated:
        deletion = await anyio.to_thread.run_sync(_schedule_deletion, row["wrapping_key_id"], now)
    await ClientDataKey.delete().where(ClientDataKey.id == row["id"])
    return EraseReport(row["id"], row["method"], row["wrapping_key_id"], deletion, not dedicated)
