"""`gdpr-vault verify DIR` checks an export bag with the service's published key."""

from __future__ import annotations

from exporters import pack
from gdpr_vault.evidence.keys import service_signing_key
from gdpr_vault.evidence.verify import verify_path


def test_a_bag_signed_by_the_service_verifies_and_a_flipped_byte_fails(tmp_path):
    source = tmp_path / "tenants" / "cli_a"
    source.mkdir(parents=True)
    (source / "règlement intérieur.txt").write_text("contenu\n", encoding="utf-8")
    bag = tmp_path / "bag"
    pack(
        [f"file://{tmp_path}/tenants/{{client}}/"],
        str(bag),
        client="cli_a",
        case_id="rev_test",
        signing_key=service_signing_key(),
    )
    report = verify_path(bag)
    assert report["ok"], report
    assert report["kind"] == "bag" and report["signature"] == "valid"
    payload = next(p for p in (bag / "data").rglob("*.txt"))
    payload.write_text("contenU\n", encoding="utf-8")
    tampered = verify_path(bag)
    assert not tampered["ok"] and tampered["problems"]
