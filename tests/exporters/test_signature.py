"""The DSSE envelope: right key passes, another key fails, tampering is caught."""

from __future__ import annotations

import base64
import hashlib
import json

from exporters import pack, verify_bag
from exporters.signing import generate_key, subject_digests, verify_envelope
from tests.exporters.conftest import copy_bag


def _bag(tmp_path, key=None):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "a.txt").write_text("contenu\n")
    out = tmp_path / "bag"
    result = pack([f"file://{src}/"], str(out), client="acme", case_id="SIG-1", signing_key=key)
    return out, result


def test_statement_subject_is_the_tagmanifest(tmp_path, key):
    out, result = _bag(tmp_path, key)
    statement = verify_envelope(result.envelope, {key.keyid: key.public_key})
    digest = hashlib.sha256((out / "tagmanifest-sha256.txt").read_bytes()).hexdigest()
    assert subject_digests(statement) == {"tagmanifest-sha256.txt": digest}
    assert statement["predicateType"] == "https://gdpr-vault.dev/bag/v1"
    predicate = statement["predicate"]
    assert predicate["bag"] == "bag" and predicate["externalIdentifier"] == "SIG-1"
    assert predicate["payloadOxum"] == result.payload_oxum and predicate["created"]
    assert result.envelope["signatures"][0]["keyid"] == key.keyid
    assert "signature.dsse.json" not in (out / "tagmanifest-sha256.txt").read_text()


def test_right_key_passes_other_key_fails(tmp_path, key):
    out, _ = _bag(tmp_path, key)
    good = verify_bag(out, [key.public_pem()])
    assert good.ok and good.signature == "valid" and good.key_id == key.keyid
    bad = verify_bag(out, [generate_key().public_key])
    assert not bad.ok and bad.signature == "invalid"
    assert "no valid signature by a known key" in bad.failures[0]
    unchecked = verify_bag(out)
    assert unchecked.ok and unchecked.signature == "unchecked"


def test_tampered_tagmanifest_fails(tmp_path, key):
    out, _ = _bag(tmp_path, key)
    tampered = copy_bag(out, tmp_path / "tampered")
    manifest = tampered / "manifest-sha256.txt"
    manifest.write_text(manifest.read_text().replace("a.txt", "b.txt"))
    (tampered / "data/files/src/a.txt").rename(tampered / "data/files/src/b.txt")
    # Recompute the tag manifest so only the signature can tell.
    lines = []
    for name in ("README.txt", "bag-info.txt", "bagit.txt", "manifest-sha256.txt"):
        lines.append(f"{hashlib.sha256((tampered / name).read_bytes()).hexdigest()}  {name}\n")
    (tampered / "tagmanifest-sha256.txt").write_text("".join(lines))
    report = verify_bag(tampered, [key.public_key])
    assert not report.ok and report.signature == "invalid"
    assert "tagmanifest-sha256.txt: SHA-256 differs from the signed subject" in report.failures


def test_forged_envelope_payload_fails(tmp_path, key):
    out, result = _bag(tmp_path, key)
    forged = copy_bag(out, tmp_path / "forged")
    envelope = dict(result.envelope)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["externalIdentifier"] = "SOMETHING-ELSE"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (forged / "signature.dsse.json").write_text(json.dumps(envelope))
    report = verify_bag(forged, [key.public_key])
    assert report.signature == "invalid" and not report.ok


def test_unsigned_bag_is_reported_unsigned(tmp_path):
    out, result = _bag(tmp_path)
    assert result.envelope is None and not (out / "signature.dsse.json").exists()
    report = verify_bag(out)
    assert report.ok and report.signature == "unsigned"
    assert "unsigned" in report.summary()


def _strip_signature(tmp_path, out):
    """What an attacker can do without the key: edit bag-info.txt, recompute the tag manifest,
    and delete the signature (the copy has no envelope beside it either)."""
    stripped = copy_bag(out, tmp_path / "stripped")
    info = stripped / "bag-info.txt"
    info.write_text(info.read_text().replace("SIG-1", "FORGED-1"))
    (stripped / "signature.dsse.json").unlink()
    lines = []
    for name in ("README.txt", "bag-info.txt", "bagit.txt", "manifest-sha256.txt"):
        lines.append(f"{hashlib.sha256((stripped / name).read_bytes()).hexdigest()}  {name}\n")
    (stripped / "tagmanifest-sha256.txt").write_text("".join(lines))
    return stripped


def test_stripped_signature_fails_when_a_key_is_given(tmp_path, key):
    out, _ = _bag(tmp_path, key)
    stripped = _strip_signature(tmp_path, out)
    report = verify_bag(stripped, [key.public_key])
    assert not report.ok and report.signature == "unsigned"
    assert report.failures == ["no signature, but a public key was given"]
    assert report.summary().startswith("FAILED:")
    # Without a key the caller asked for no signature check: the checksums still hold.
    assert verify_bag(stripped).ok


def test_unsigned_bag_fails_when_a_key_is_given(tmp_path, key):
    out, _ = _bag(tmp_path)
    report = verify_bag(out, [key.public_pem()])
    assert not report.ok and report.signature == "unsigned"
    assert "no signature, but a public key was given" in report.failures
