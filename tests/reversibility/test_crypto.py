"""Data keys (master-key and KMS wrapping), crypto-erase, and the GVENC stream format."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gdpr_vault.crypto import keys, master
from gdpr_vault.crypto.stream import DecryptionError, EncryptingWriter, decrypt_chunks
from gdpr_vault.crypto.tables import ClientDataKey

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def encrypt(data: bytes, key: bytes, chunk: int = 1000) -> bytes:
    out = io.BytesIO()
    writer = EncryptingWriter(out, key, "dk_test", chunk_size=chunk)
    for start in range(0, len(data), 333):
        writer.write(data[start : start + 333])
    writer.close()
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 5000])
def test_stream_round_trip(tmp_path: Path, size: int):
    key, data = os.urandom(32), os.urandom(size)
    path = tmp_path / "f.gvenc"
    path.write_bytes(encrypt(data, key))
    assert b"".join(decrypt_chunks(path, key)) == data


def test_stream_detects_tampering_truncation_and_wrong_key(tmp_path: Path):
    key, data = os.urandom(32), os.urandom(5000)
    blob = encrypt(data, key)
    path = tmp_path / "f.gvenc"
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 1
    cases = {
        "flipped": bytes(flipped),
        "truncated at a chunk boundary": blob[: len(blob) - (5000 - 4000) - 16],
        "last chunk dropped": blob[:-20],
    }
    for label, content in cases.items():
        path.write_bytes(content)
        with pytest.raises(DecryptionError):
            b"".join(decrypt_chunks(path, key))
        assert label
    path.write_bytes(blob)
    with pytest.raises(DecryptionError):
        b"".join(decrypt_chunks(path, os.urandom(32)))


def test_master_key_file_is_generated_0600():
    master.master_key()
    path = master.master_key_path()
    assert path.is_file()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    blob = master.seal(b"secret", b"aad")
    assert master.unseal(blob, b"aad") == b"secret"
    with pytest.raises(master.MasterKeyError):
        master.unseal(blob, b"other aad")


async def test_data_key_wrapped_by_the_master_key_then_erased(db):
    key = await keys.get_or_create("cli_a", NOW)
    again = await keys.load("cli_a")
    assert again.key == key.key and len(key.key) == 32
    row = await ClientDataKey.select().first()
    assert row["method"] == "master-aes-gcm"
    assert key.key.hex() not in row["wrapped_key"]
    report = await keys.crypto_erase("cli_a", NOW)
    assert report is not None and report.kms_key_deletion_date is None
    with pytest.raises(keys.DataKeyDestroyed):
        await keys.load("cli_a")
    assert await keys.crypto_erase("cli_a", NOW) is None  # idempotent


@pytest.mark.parametrize("mode", ["shared", "per-client"])
async def test_data_key_in_kms_and_scheduled_key_deletion(db, monkeypatch, mode):
    moto = pytest.importorskip("moto")
    import dataclasses

    import boto3

    from gdpr_vault.settings import get_settings

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto.mock_aws():
        kms = boto3.client("kms", region_name="eu-west-3")
        shared = kms.create_key()["KeyMetadata"]["KeyId"]
        settings = dataclasses.replace(
            get_settings(),
            kms_key_id=shared if mode == "shared" else keys.PER_CLIENT,
            kms_region="eu-west-3",
            kms_deletion_window_days=7,
        )
        monkeypatch.setattr(keys, "get_settings", lambda: settings)
        key = await keys.get_or_create("cli_k", NOW)
        assert (await keys.load("cli_k")).key == key.key
        row = await ClientDataKey.select().first()
        assert row["method"] == "kms"
        report = await keys.crypto_erase("cli_k", NOW)
        assert report is not None
        if mode == "per-client":
            assert report.kms_key_deletion_date is not None
            state = kms.describe_key(KeyId=row["wrapping_key_id"])["KeyMetadata"]["KeyState"]
            assert state == "PendingDeletion"
        else:
            assert report.kms_key_deletion_date is None  # a shared key serves other clients
            assert kms.describe_key(KeyId=shared)["KeyMetadata"]["KeyState"] == "Enabled"
        with pytest.raises(keys.DataKeyDestroyed):
            await keys.load("cli_k")
