"""`gdpr-vault verify` checks offline and never writes: keys come from the user or disk."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from exporters.signing import generate_key, sign
from gdpr_vault.cli import main

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


def _published(tmp_path: Path, key) -> Path:
    pem = tmp_path / "published.pem"
    pem.write_bytes(key.public_pem())
    return pem


def test_verify_certificate_json_uses_the_certificate_envelope_beside_it(tmp_path, capsys):
    """The service writes certificate.json signed by certificate.dsse.json, not .json.dsse.json."""
    key = generate_key()
    payload, _ = _certificate(tmp_path / "case", key)
    pem = _published(tmp_path, key)
    assert main(["verify", str(payload), "--public-key", str(pem)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["file"] == "certificate.json"
    assert report["signature_file"] == "certificate.dsse.json"
    assert report["predicate_type"] == PREDICATE

    payload.write_bytes(payload.read_bytes().replace(b"cert_1", b"cert_2"))
    assert main(["verify", str(payload), "--public-key", str(pem)]) == 1
    assert "SHA-256 differs" in json.loads(capsys.readouterr().out)["problems"][0]


def test_verify_a_file_the_envelope_beside_does_not_sign_names_the_file_to_pass(tmp_path, capsys):
    key = generate_key()
    _, signed = _certificate(tmp_path / "case", key)
    page = signed.with_name("certificate.html")
    page.write_text("<html></html>", encoding="utf-8")
    assert main(["verify", str(page), "--public-key", str(_published(tmp_path, key))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"gdpr-vault verify {signed}" in err, err


def test_verify_a_file_without_any_signature_says_where_it_looked(tmp_path, capsys):
    lone = tmp_path / "certificate.json"
    lone.write_text("{}", encoding="utf-8")
    key = _published(tmp_path, generate_key())
    assert main(["verify", str(lone), "--public-key", str(key)]) == 2
    err = capsys.readouterr().err.strip()
    assert "certificate.json.dsse.json and certificate.dsse.json" in err, err
