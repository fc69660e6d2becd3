"""``gdpr-vault verify FILE``: one offline check for every signed thing the product emits.

- a DSSE envelope (``*.dsse.json``, checkpoints, certificates): signature, and each subject
  that names a file lying beside it;
- any other file: its sidecar ``FILE.dsse.json`` (else ``STEM.dsse.json``, as
  ``certificate.json`` has) must sign exactly that file's SHA-256;
- a directory: a BagIt export bag (delegated to ``exporters.verify``) when that is available;
- a ``.zip``: an evidence bundle (docs/audits.md): the signed manifest, every file's SHA-256,
  and the trail chain from the genesis to the signed checkpoint's head.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from exporters.signing import (
    SignatureError,
    key_id,
    load_private_key,
    load_public_key,
    sha256_file,
    subject_digests,
    verify_envelope,
)
from gdpr_vault.evidence.checkpoints import CHECKPOINT_PREDICATE, checkpoint_subject
from gdpr_vault.evidence.trail import GENESIS, event_hash
from gdpr_vault.settings import get_settings

BUNDLE_PREDICATE = "https://gdpr-vault.dev/evidence-bundle/v1"
BUNDLE_SIGNATURE = "manifest.dsse.json"
BUNDLE_MANIFEST = "manifest.json"
BUNDLE_CHECKPOINT = "trail/checkpoint.dsse.json"
BUNDLE_CHAIN = "trail/chain.jsonl"
BUNDLE_EVENTS = "trail/events.jsonl"

#: The hashed fields of a trail event, as ``gdpr_vault.evidence.trail`` hashes them.
EVENT_FIELDS = (
    "seq",
    "event_id",
    "occurred_at",
    "actor",
    "action",
    "client_id",
    "subject_type",
    "subject_id",
    "before_digest",
    "after_digest",
    "details_json",
)


class NoPublicKey(Exception):
    """No --public-key and no service key on this machine: nothing to verify against."""


def load_keyring(public_key: Path | None) -> dict[str, Ed25519PublicKey]:
    """A PEM file, a /api/v1/keys JSON document, or by default the local service key."""
    if public_key is None:
        # Only read: service_signing_key() would generate a key where there is none, and a
        # verifier run outside the service's folder must neither write a private key nor check
        # against a key that cannot have signed anything.
        path = get_settings().effective_signing_key_path
        if not path.is_file():
            raise NoPublicKey(
                f"no public key (no service key at {path}): pass --public-key FILE "
                "(the key published at /api/v1/keys)"
            )
        key = load_private_key(path).public_key
        return {key_id(key): key}
    data = public_key.read_bytes()
    if data.lstrip().startswith(b"{"):
        try:
            pems = [entry["public_key_pem"].encode() for entry in json.loads(data)["keys"]]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError("not a PEM key nor a /api/v1/keys document") from exc
        keyring = {}
        for pem in pems:
            key = load_public_key(pem)
            keyring[key_id(key)] = key
        return keyring
    key = load_public_key(data)
    return {key_id(key): key}


def _is_envelope(data: Any) -> bool:
    return isinstance(data, dict) and {"payloadType", "payload", "signatures"} <= set(data)


def verify_envelope_file(path: Path, keyring: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    envelope = json.loads(path.read_text(encoding="utf-8"))
    stmt = verify_envelope(envelope, keyring)
    checked, problems = [], []
    for name, digest in subject_digests(stmt).items():
        candidate = path.parent / Path(name).name
        if candidate.is_file():
            actual = sha256_file(candidate)
            checked.append(candidate.name)
            if actual != digest:
                problems.append(f"{candidate.name}: SHA-256 differs from the signed subject")
    return {
        "ok": not problems,
        "kind": "envelope",
        "predicate_type": stmt.get("predicateType"),
        "subjects": subject_digests(stmt),
        "files_checked": checked,
        "problems": problems,
        "statement": stmt,
    }


def verify_signed_file(path: Path, keyring: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    """FILE against FILE.dsse.json, or else against the envelope named after its stem.

    Deletion certificates are ``certificate.json`` signed by ``certificate.dsse.json`` (beside
    ``certificate.html``), so ``verify certificate.json`` must find the stem's envelope too.
    """
    sidecar = path.with_name(path.name + ".dsse.json")
    stem_envelope = path.with_suffix(".dsse.json") if path.suffix else sidecar
    if not sidecar.is_file() and stem_envelope.is_file():
        sidecar = stem_envelope
    if not sidecar.is_file():
        looked = sidecar.name
        if stem_envelope != sidecar:
            looked += f" and {stem_envelope.name}"
        return {"ok": False, "error": f"{path.name} has no signature file beside it ({looked})"}
    envelope = json.loads(sidecar.read_text(encoding="utf-8"))
    stmt = verify_envelope(envelope, keyring)
    digests = subject_digests(stmt)
    if path.name not in digests and sidecar == stem_envelope:
        # certificate.html is the printable page, not a signed subject: say what to check.
        return {
            "ok": False,
            "error": f"{sidecar.name} signs {', '.join(sorted(digests)) or 'nothing'}, "
            f"not {path.name}: run gdpr-vault verify {sidecar}",
        }
    actual = sha256_file(path)
    ok = digests.get(path.name) == actual
    return {
        "ok": ok,
        "kind": "signed-file",
        "file": path.name,
        "signature_file": sidecar.name,
        "sha256": actual,
        "predicate_type": stmt.get("predicateType"),
        "problems": [] if ok else [f"{path.name}: SHA-256 differs from the signed subject"],
        "statement": stmt,
    }


def verify_path(path: Path, public_key: Path | None = None) -> dict[str, Any]:
    if not path.exists():
        return {"ok": False, "error": f"{path} does not exist"}
    try:
        # Once only: a --public-key <(curl ...) is a pipe, and a second read finds it empty.
        keyring = load_keyring(public_key)
    except NoPublicKey as exc:
        return {"ok": False, "error": str(exc)}
    except (OSError, ValueError) as exc:
        key_file = public_key or get_settings().effective_signing_key_path
        return {"ok": False, "error": f"cannot read key file {key_file}: {exc}"}
    try:
        if path.is_dir():
            return _verify_bag(path, keyring)
        if path.suffix == ".zip":
            return verify_bundle(path, keyring)
        if path.suffix == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, ValueError):
                data = None
            if _is_envelope(data):
                return verify_envelope_file(path, keyring)
        return verify_signed_file(path, keyring)
    except SignatureError as exc:
        return {"ok": False, "kind": "signature", "problems": [str(exc)]}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        return {"ok": False, "error": f"cannot read {path.name}: {exc}"}


def _verify_bag(path: Path, keyring: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    from exporters.verify import verify_bag  # the standalone library owns bag checks

    report = verify_bag(path, public_keys=list(keyring.values()))
    return {
        "ok": report.ok and report.signature == "valid",
        "kind": "bag",
        "summary": report.summary(),
        "signature": report.signature,
        "key_id": report.key_id,
        "files_checked": report.files_checked,
        "bytes_checked": report.bytes_checked,
        "payload_oxum": report.payload_oxum,
        "tagmanifest_sha256": report.tagmanifest_sha256,
        "problems": list(report.failures)
        + ([] if report.signature == "valid" else [f"signature {report.signature}"]),
    }


def entry_name_error(name: str) -> str | None:
    """Why a zip entry name could escape the archive root when extracted, or None."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return f"unsafe entry name {name!r}"
    if re.match(r"^[A-Za-z]:", name):
        return f"entry name {name!r} names a drive"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return f"entry name {name!r} has an empty, '.' or '..' segment"
    return None


def _entry_sha256(archive: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with archive.open(name) as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _lines(archive: zipfile.ZipFile, name: str) -> Iterator[dict[str, Any]]:
    with archive.open(name) as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def verify_bundle(path: Path, keyring: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    """Signature, manifest digests, then the trail chain, all offline."""
    problems: list[str] = []
    report: dict[str, Any] = {"kind": "evidence-bundle", "file": path.name}
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        problems.extend(e for e in (entry_name_error(n) for n in names) if e)
        if len(set(names)) != len(names):
            problems.append("an entry name appears twice")
        if BUNDLE_SIGNATURE not in names:
            return {**report, "ok": False, "problems": [*problems, "no manifest.dsse.json"]}
        stmt = verify_envelope(json.loads(archive.read(BUNDLE_SIGNATURE)), keyring)
        if stmt.get("predicateType") != BUNDLE_PREDICATE:
            problems.append(f"predicateType is {stmt.get('predicateType')!r}")
        subjects = subject_digests(stmt)
        problems.extend(
            f"{n}: not covered by the signature"
            for n in names
            if n != BUNDLE_SIGNATURE and n not in subjects
        )
        damaged: set[str] = set()
        for name, digest in subjects.items():
            if name not in names:
                problems.append(f"{name}: signed but missing")
                damaged.add(name)
                continue
            try:
                actual = _entry_sha256(archive, name)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                problems.append(f"{name}: unreadable ({exc})")
                damaged.add(name)
                continue
            if actual != digest:
                problems.append(f"{name}: SHA-256 differs from the signed subject")
                damaged.add(name)
        manifest: dict[str, Any] = {}
        if BUNDLE_MANIFEST in subjects and BUNDLE_MANIFEST not in damaged:
            manifest = json.loads(archive.read(BUNDLE_MANIFEST))
            listed = {f["name"]: f["sha256"] for f in manifest.get("files", [])}
            expected = {n: d for n, d in subjects.items() if n != BUNDLE_MANIFEST}
            if listed != expected:
                problems.append("manifest.json does not list exactly the signed files")
        else:
            problems.append("manifest.json is missing or damaged")
        trail_files = {BUNDLE_CHECKPOINT, BUNDLE_CHAIN, BUNDLE_EVENTS}
        if manifest and not (trail_files & damaged) and trail_files <= set(subjects):
            report["trail"] = _verify_bundle_trail(archive, keyring, manifest, problems)
        else:
            problems.append("the trail files are missing or damaged: chain not checked")
    report.update(
        {
            "ok": not problems,
            "client_id": manifest.get("client_id"),
            "period": manifest.get("period"),
            "files_checked": len(subjects),
            "problems": problems,
            "statement": stmt,
        }
    )
    return report


def _verify_bundle_trail(
    archive: zipfile.ZipFile,
    keyring: dict[str, Ed25519PublicKey],
    manifest: dict[str, Any],
    problems: list[str],
) -> dict[str, Any]:
    """Recompute the client's events' hashes and follow every link up to the signed head."""
    checkpoint = verify_envelope(json.loads(archive.read(BUNDLE_CHECKPOINT)), keyring)
    if checkpoint.get("predicateType") != CHECKPOINT_PREDICATE:
        problems.append("trail/checkpoint.dsse.json is not a trail checkpoint")
    upto = int(checkpoint.get("predicate", {}).get("upto_seq", -1))
    head = subject_digests(checkpoint).get(checkpoint_subject(upto))
    if head is None:
        problems.append("the checkpoint names no head hash")
    claimed = manifest.get("checkpoint", {})
    if claimed.get("upto_seq") != upto or claimed.get("head_hash") != head:
        problems.append("manifest.json and the signed checkpoint disagree")
    client_id = manifest.get("client_id")
    events = _lines(archive, BUNDLE_EVENTS)
    event = next(events, None)
    prev, expected, own = GENESIS, 1, 0
    for link in _lines(archive, BUNDLE_CHAIN):
        if link["seq"] != expected:
            problems.append(f"chain: expected seq {expected}, found {link['seq']}")
            break
        if link["prev_hash"] != prev:
            problems.append(f"chain: seq {expected} does not link to the previous hash")
            break
        while event is not None and event["seq"] == expected:
            recomputed = event_hash(prev, {name: event[name] for name in EVENT_FIELDS})
            if recomputed != event["hash"] or event["hash"] != link["hash"]:
                problems.append(f"event seq {expected}: content does not match its hash")
            if event["prev_hash"] != prev:
                problems.append(f"event seq {expected}: prev_hash differs from the chain")
            if event["client_id"] != client_id:
                problems.append(f"event seq {expected}: belongs to another client")
            own += 1
            event = next(events, None)
        if event is not None and event["seq"] < expected:
            problems.append(f"event seq {event['seq']}: out of chain order")
            event = next(events, None)
        prev, expected = link["hash"], expected + 1
    if expected - 1 != upto or prev != head:
        problems.append(
            f"chain ends at seq {expected - 1} with a hash that is not the signed head "
            f"(checkpoint upto_seq {upto})"
        )
    if event is not None:
        problems.append(f"event seq {event['seq']}: beyond the signed checkpoint")
    return {"checked_links": expected - 1, "client_events": own, "upto_seq": upto, "head": head}
