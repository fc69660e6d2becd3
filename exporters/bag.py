"""The BagIt 1.0 (RFC 8493) tag files, rendered deterministically from the payload records.

Why deterministic: a resumed export must produce the same tag files as an uninterrupted one, so
manifest lines are sorted by path, dates come from the journal header, and nothing depends on the
order in which worker threads finished. The signature (``signature.dsse.json``) is a tag file the
tag manifest cannot list — it signs the tag manifest's digest — so it is left out of it on
purpose; verifiers check it through the envelope instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from exporters.errors import InputError
from exporters.journal import Record
from exporters.paths import encode_manifest_path

BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
MANIFEST = "manifest-sha256.txt"
TAGMANIFEST = "tagmanifest-sha256.txt"
BAG_INFO = "bag-info.txt"
README = "README.txt"
SIGNATURE = "signature.dsse.json"
ENVELOPE_SUFFIX = ".dsse.json"
PREDICATE_TYPE = "https://gdpr-vault.dev/bag/v1"
SOFTWARE_AGENT = "gdpr-vault exporters 0.1.0 (https://gdpr-vault.dev)"


@dataclass(frozen=True)
class BagMetadata:
    name: str
    case_id: str
    organization: str
    contract: str | None
    client: str
    created: datetime


def check_metadata_value(label: str, value: str) -> str:
    """bag-info values are single lines; refuse control characters rather than fold them."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise InputError(f"{label} must not contain control characters or line breaks")
    return value


def manifest(records: Iterable[Record]) -> bytes:
    lines = [
        f"{r.sha256}  {encode_manifest_path(r.path)}\n"
        for r in sorted(records, key=lambda r: r.path)
    ]
    return "".join(lines).encode()


def payload_oxum(records: Iterable[Record]) -> str:
    count = total = 0
    for record in records:
        count += 1
        total += record.size
    return f"{total}.{count}"


def bag_info(meta: BagMetadata, oxum: str) -> bytes:
    fields: list[tuple[str, str]] = []
    if meta.organization:
        fields.append(("Source-Organization", meta.organization))
    fields.append(("Bagging-Date", meta.created.astimezone(UTC).date().isoformat()))
    fields.append(("External-Identifier", meta.case_id or meta.name))
    if meta.client:
        fields.append(("Internal-Sender-Identifier", meta.client))
    if meta.contract:
        fields.append(("Contract-Reference", meta.contract))
    fields.append(("Payload-Oxum", oxum))
    fields.append(("Bag-Software-Agent", SOFTWARE_AGENT))
    return "".join(f"{label}: {value}\n" for label, value in fields).encode()


def readme(meta: BagMetadata, oxum: str, key_id: str | None) -> bytes:
    size, count = oxum.split(".")
    signed_fr = (
        f"Signé (Ed25519, clé {key_id}) : {SIGNATURE} et {meta.name}{ENVELOPE_SUFFIX}."
        if key_id
        else "Ce sac n'est pas signé."
    )
    signed_en = (
        f"Signed (Ed25519, key id {key_id}): {SIGNATURE} and {meta.name}{ENVELOPE_SUFFIX}."
        if key_id
        else "This bag is not signed."
    )
    text = f"""\
{meta.name} — export {meta.case_id or meta.name}

FRANÇAIS
Ce dossier est un « sac » BagIt 1.0 (RFC 8493) : {count} fichiers, {size} octets, sous data/.
  data/files/<source>/…  fichiers copiés tels quels
  data/s3/<source>/…     objets S3 (versions courantes)
  data/sql/<source>/…    tables en CSV et JSON Lines, décrites par datapackage.json
manifest-sha256.txt donne l'empreinte SHA-256 de chaque fichier ; tagmanifest-sha256.txt celle
des fichiers d'étiquette (bagit.txt, bag-info.txt, manifest-sha256.txt, README.txt).
{signed_fr}
La signature est une enveloppe DSSE sur une déclaration in-toto dont le sujet est l'empreinte
SHA-256 de tagmanifest-sha256.txt ; elle ne peut donc pas figurer elle-même dans ce fichier.
Vérifier :
  cd <ce dossier> && sha256sum -c manifest-sha256.txt && sha256sum -c tagmanifest-sha256.txt
  bagit.py --validate <ce dossier>
  python -m exporters verify <ce dossier> --public-key cle-publique.pem
Les noms contenant « % » sont encodés « %25 » dans les manifestes, comme l'exige la RFC 8493 ;
pour eux, utilisez la vérification de gdpr-vault plutôt que sha256sum.

ENGLISH
This folder is a BagIt 1.0 bag (RFC 8493): {count} files, {size} bytes, under data/.
  data/files/<source>/…  files copied as they were
  data/s3/<source>/…     S3 objects (current versions)
  data/sql/<source>/…    tables as CSV and JSON Lines, described by datapackage.json
manifest-sha256.txt lists the SHA-256 of every payload file; tagmanifest-sha256.txt lists the
tag files (bagit.txt, bag-info.txt, manifest-sha256.txt, README.txt).
{signed_en}
The signature is a DSSE envelope over an in-toto Statement whose subject is the SHA-256 of
tagmanifest-sha256.txt, which is why it cannot itself be listed in that file.
Check it:
  cd <this folder> && sha256sum -c manifest-sha256.txt && sha256sum -c tagmanifest-sha256.txt
  bagit.py --validate <this folder>
  python -m exporters verify <this folder> --public-key public-key.pem
Names containing "%" are written "%25" in the manifests, as RFC 8493 requires; for those, use
the gdpr-vault verifier rather than sha256sum.
"""
    return text.encode()


def tagmanifest(tag_files: Mapping[str, bytes]) -> bytes:
    lines = [
        f"{hashlib.sha256(data).hexdigest()}  {encode_manifest_path(name)}\n"
        for name, data in sorted(tag_files.items())
    ]
    return "".join(lines).encode()


def predicate(meta: BagMetadata, oxum: str, manifest_sha256: str) -> dict[str, str]:
    data = {
        "bag": meta.name,
        "externalIdentifier": meta.case_id or meta.name,
        "payloadOxum": oxum,
        "manifestSha256": manifest_sha256,
        "created": meta.created.astimezone(UTC).isoformat(),
    }
    if meta.organization:
        data["sourceOrganization"] = meta.organization
    if meta.contract:
        data["contractReference"] = meta.contract
    if meta.client:
        data["internalSenderIdentifier"] = meta.client
    return data
