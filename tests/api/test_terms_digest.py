"""Terms versions carry the SHA-256 of their text; bulk reads fetch each distinct text once."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from gdpr_vault.contracts import service
from gdpr_vault.contracts.tables import Contract, TermsVersion

ROOT = Path(__file__).resolve().parents[2]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def _versions() -> list[dict]:
    return await TermsVersion.select().order_by(TermsVersion.id)


async def test_versions_store_the_digest_of_their_text(api, tokens):
    versions = await _versions()
    assert len(versions) == 2
    assert all(v["terms_sha256"] == _sha(v["terms_json"]) for v in versions)


async def test_contracts_sharing_a_text_share_one_string(api, tokens, monkeypatch):
    monkeypatch.setattr(service, "_TEXTS", {})
    contracts = [c["id"] for c in await Contract.select(Contract.id)]
    texts = await service._terms_texts(contracts)
    a, b = (texts[(c, 1)] for c in contracts)
    versions = {v["contract"]: v["terms_json"] for v in await _versions()}
    assert a == versions[contracts[0]] and b == versions[contracts[1]]
    assert a is b  # one preset, one text: fetched once, parsed once by the callers' caches
    assert set(service._TEXTS) == {_sha(a)}


async def test_versions_without_a_trustworthy_digest_are_read_by_id(api, tokens, monkeypatch):
    monkeypatch.setattr(service, "_TEXTS", {})
    first, second = await _versions()
    changed = second["terms_json"].replace('"time_zone"', '"time_zone" ', 1)
    await TermsVersion.update({TermsVersion.terms_sha256: None}).where(
        TermsVersion.id == first["id"]
    )
    await TermsVersion.update({TermsVersion.terms_json: changed}).where(
        TermsVersion.id == second["id"]
    )
    texts = await service._terms_texts([first["contract"], second["contract"]])
    assert texts[(first["contract"], 1)] == first["terms_json"]  # no digest: read by id
    assert texts[(second["contract"], 1)] == changed  # its digest does not match: read by id
    assert service._TEXTS == {}  # and neither is remembered


async def test_the_migration_fills_digests_of_older_versions(api, tokens):
    await TermsVersion.update({TermsVersion.terms_sha256: None}, force=True)
    path = ROOT / "migrations" / "m0013_terms_sha256_backfill.py"
    spec = importlib.util.spec_from_file_location("m0013", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    await module._backfill()
    assert all(v["terms_sha256"] == _sha(v["terms_json"]) for v in await _versions())
