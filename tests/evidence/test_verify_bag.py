"""`gdpr-vault verify DIR` checks an export bag with the service's published key."""

from __future__ import annotations

import os
from pathlib import Path

from exporters import pack
from exporters.signing import generate_key
from gdpr_vault.cli import main
from gdpr_vault.evidence.keys import service_signing_key
from gdpr_vault.evidence.verify import verify_path


def test_a_bag_signed_by_the_service_verifies_and_a_flipped_byte_fails(tmp_path):
    bag = _signed_bag(tmp_path, service_signing_key(), name="règlement intérieur.txt")
    report = verify_path(bag)
    assert report["ok"], report
    assert report["kind"] == "bag" and report["signature"] == "valid"
    payload = next(p for p in (bag / "data").rglob("*.txt"))
    payload.write_text("contenU\n", encoding="utf-8")
    tampered = verify_path(bag)
    assert not tampered["ok"] and tampered["problems"]


def _signed_bag(tmp_path, key, name="a.txt"):
    source = tmp_path / "tenants" / "cli_a"
    source.mkdir(parents=True)
    (source / name).write_text("contenu\n", encoding="utf-8")
    bag = tmp_path / "bag"
    pack(
        [f"file://{tmp_path}/tenants/{{client}}/"],
        str(bag),
        client="cli_a",
        case_id="rev_test",
        signing_key=key,
    )
    return bag


def test_a_key_given_through_a_pipe_is_read_once(tmp_path):
    """`--public-key <(curl ... | jq ...)`: a pipe can be read only once."""
    key = generate_key()
    bag = _signed_bag(tmp_path, key)
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, key.public_pem())  # far below a pipe's buffer: no writer thread
        os.close(write_end)
        report = verify_path(bag, Path(f"/dev/fd/{read_end}"))
    finally:
        os.close(read_end)
    assert report["ok"], report
    assert report["signature"] == "valid" and report["key_id"] == key.keyid


def test_an_unreadable_key_is_named_not_the_bag(tmp_path, capsys):
    bag = _signed_bag(tmp_path, generate_key())
    bad = tmp_path / "published.pem"
    bad.write_text("not a key\n", encoding="utf-8")
    assert main(["verify", str(bag), "--public-key", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "published.pem" in err and "bag" not in err.replace(str(tmp_path), ""), err
