"""`gdpr-vault verify` checks offline and never writes: keys come from the user or disk."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from exporters.signing import generate_key, sign

PREDICATE = "https://gdpr-vault.dev/deletion-certificate/v1"


def _certificate(folder: Path, key=None) -> tuple[Path, Path]:
    """certificate.json and certificate.dsse.json as the service writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"certificateId": "cert_1"}, sort_keys=True).encode()
    payload = folder / "certificate.json"
    payload.write_bytes(body)
    envelope = sign(
        key or generate_key(),
        [("certificate.json", hashlib.sha256(body).hexdigest())],
        PREDICATE,
        {"certificateId": "cert_1"},
    )
    signed = folder / "certificate.dsse.json"
    signed.write_text(json.dumps(envelope), encoding="utf-8")
    return payload, signed


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VAR_DIR", "SIGNING_KEY_PATH")}
    return subprocess.run(
        [sys.executable, "-m", "gdpr_vault.cli", "verify", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_verify_without_a_key_outside_the_service_creates_nothing(tmp_path):
    _certificate(tmp_path / "some")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = _cli(tmp_path, "some/certificate.dsse.json")
    assert result.returncode == 2, result
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and "--public-key" in err and "no public key" in err


def test_verify_without_a_key_uses_the_existing_service_key(tmp_path):
    from exporters.signing import save_private_key

    key = generate_key()
    save_private_key(key, tmp_path / "var" / "keys" / "signing-ed25519.pem")
    _certificate(tmp_path / "some", key)
    result = _cli(tmp_path, "some/certificate.dsse.json")
    assert result.returncode == 0, result
    assert json.loads(result.stdout)["files_checked"] == ["certificate.json"]
