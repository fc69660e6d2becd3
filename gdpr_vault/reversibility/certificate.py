"""The deletion certificate: a signed JSON document modelled on NIST SP 800-88 Rev. 1, App. G.

``VAR_DIR/certificates/<case>/`` holds ``certificate.json`` (the predicate, canonical JSON),
``certificate.dsse.json`` (a DSSE envelope over an in-toto Statement whose one subject is
``certificate.json`` with its SHA-256) and ``certificate.html`` (printable). ``gdpr-vault verify
certificate.dsse.json`` checks the signature and the file beside it offline.

It holds no personal data (counts, digests, redacted source URLs, ids), so it outlives the
deletion it proves.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from pathlib import Path
from typing import Any

from exporters.signing import sign
from gdpr_vault.evidence.keys import service_signing_key
from gdpr_vault.settings import get_settings

PREDICATE_TYPE = "https://gdpr-vault.dev/deletion-certificate/v1"
CERTIFICATE = "certificate.json"
ENVELOPE = "certificate.dsse.json"
PAGE = "certificate.html"


def certificate_dir(case_id: str) -> Path:
    return get_settings().var_dir / "certificates" / case_id


def canonical(predicate: dict[str, Any]) -> bytes:
    return json.dumps(predicate, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_certificate(case_id: str, predicate: dict[str, Any]) -> dict[str, Any]:
    """Sign and store; returns ``{sha256, keyid, envelope}``. Rerunning rewrites the same bytes."""
    folder = certificate_dir(case_id)
    folder.mkdir(parents=True, exist_ok=True)
    body = canonical(predicate)
    digest = hashlib.sha256(body).hexdigest()
    key = service_signing_key()
    envelope = sign(key, [(CERTIFICATE, digest)], PREDICATE_TYPE, predicate)
    _atomic(folder / CERTIFICATE, body)
    _atomic(folder / ENVELOPE, json.dumps(envelope, indent=2, sort_keys=True).encode())
    _atomic(folder / PAGE, render_html(predicate, digest, key.keyid).encode())
    return {"sha256": digest, "keyid": key.keyid, "envelope": envelope}


def read_envelope(case_id: str) -> dict[str, Any] | None:
    path = certificate_dir(case_id) / ENVELOPE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def read_page(case_id: str) -> str | None:
    path = certificate_dir(case_id) / PAGE
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _row(label: str, value: Any) -> str:
    return f"<tr><th>{html.escape(label)}</th><td>{html.escape(str(value))}</td></tr>"


def render_html(predicate: dict[str, Any], digest: str, keyid: str) -> str:
    """A printable page; every value escaped, nothing fetched from elsewhere."""
    p = predicate
    rows = [
        _row("Certificate id", p["certificateId"]),
        _row("Processor", p["processor"]["name"]),
        _row("Client (controller)", f"{p['client']['legalName']} ({p['client']['id']})"),
        _row("Contract", p["contract"]["reference"]),
        _row("Case", p["case"]["id"]),
        _row("Deletion started", p["times"]["deletionStarted"]),
        _row("Deletion completed", p["times"]["deletionCompleted"]),
        _row("Verification", "passed" if p["verification"]["result"] == "pass" else "FAILED"),
    ]
    sources = []
    for s in p["sources"]:
        counts = ", ".join(f"{k}: {v}" for k, v in s["counts"].items())
        sources.append(
            "<tr>"
            f"<td>{html.escape(s['source'])}</td><td>{html.escape(s['method'])}</td>"
            f"<td>{html.escape(counts)}</td>"
            f"<td><code>{html.escape(s['inventory_sha256'])}</code></td>"
            f"<td>{'zero left' if s['verification']['ok'] else 'DATA LEFT'}</td>"
            "</tr>"
        )
    exclusions = "".join(
        f"<li>{html.escape(e['what'])}: {html.escape(e['legalReason'])}</li>"
        for e in p["exclusions"]
    )
    backups = html.escape(p["backups"]["statement"])
    erase = p["cryptoErase"]
    title = html.escape(p["certificateId"])
    style = (
        "body{font-family:sans-serif;max-width:60rem;margin:2rem auto}"
        "table{border-collapse:collapse;width:100%}"
        "th,td{border:1px solid #999;padding:.3rem;text-align:left;vertical-align:top}"
        "code{word-break:break-all}"
    )
    header = "".join(
        f"<th>{h}</th>"
        for h in ("Source", "Method", "Counts", "SHA-256 of deleted identifiers", "Rescan")
    )
    key_line = (
        f"Key {html.escape(str(erase.get('data_key_id')))}, "
        f"wrapped by {html.escape(str(erase.get('wrapping')))}; "
        f"{html.escape(erase['statement'])}"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Certificate of deletion {title}</title>
<style>{style}</style>
</head><body>
<h1>Certificate of sanitization / Certificat d'effacement</h1>
<p>GDPR Art. 28(3)(g); modelled on NIST SP 800-88 Rev. 1, Appendix G.</p>
<table>{"".join(rows)}</table>
<h2>Sources</h2>
<table><tr>{header}</tr>
{"".join(sources)}</table>
<h2>Crypto-erase of the client's data key</h2>
<p>{key_line}</p>
<h2>Backups</h2><p>{backups}</p>
<h2>Kept by law (not deleted)</h2><ul>{exclusions or "<li>none</li>"}</ul>
<h2>Signature</h2>
<p>Signed by {html.escape(p["signer"]["name"])}, Ed25519 key id <code>{html.escape(keyid)}</code>.
SHA-256 of certificate.json: <code>{html.escape(digest)}</code>.
Check offline: <code>gdpr-vault verify certificate.dsse.json --public-key keys.json</code>
(public key at /api/v1/keys).</p>
</body></html>
"""
