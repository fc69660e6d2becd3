"""Bags from local files validate with bagit-python, sha256sum -c and our verify."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exporters import InputError, UnsafePathError, pack, verify_bag
from exporters.cli import main
from tests.exporters.conftest import bagit_valid, copy_bag, sha256sum_check

CREATED = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)


def _pack(base: Path, out: Path, **kwargs):
    kwargs.setdefault("client", "acme")
    kwargs.setdefault("case_id", "CASE-42")
    kwargs.setdefault("organization", "Hébergeur SAS")
    return pack([f"file://{base}/{{client}}/"], str(out), **kwargs)


def test_bag_validates_with_three_tools(make_tree, tmp_path, key):
    base = make_tree(big=3_000_000)
    out = tmp_path / "out" / "case-42"
    result = _pack(base, out, signing_key=key, contract="DPA-2024-07")

    assert bagit_valid(out)
    check = sha256sum_check(out)
    assert check.returncode == 0, check.stdout + check.stderr
    report = verify_bag(out, [key.public_key])
    assert report.ok and report.signature == "valid", report.failures

    names = {m.path for m in result.manifest}
    assert "data/files/tenants/dir with space/rapport final.txt" in names
    assert "data/files/tenants/accents/été à Noël – ñ.csv" in names
    assert "data/files/tenants/..not-a-parent" in names
    assert "data/files/tenants/inside-link" in names  # a link inside the root is followed
    assert not any("escape-link" in n for n in names)
    assert not any("not-acme" in n for n in names)  # the other tenant's folder
    assert [s.name for s in result.skipped] == ["escape-link"]
    assert "outside the source root" in result.skipped[0].reason
    assert result.payload_oxum == f"{result.bytes}.{result.files}"

    info = (out / "bag-info.txt").read_text()
    for line in (
        "External-Identifier: CASE-42",
        "Source-Organization: Hébergeur SAS",
        "Internal-Sender-Identifier: acme",
        "Contract-Reference: DPA-2024-07",
        f"Payload-Oxum: {result.payload_oxum}",
        "Bag-Software-Agent: ",
        "Bagging-Date: ",
    ):
        assert line in info
    manifest_lines = (out / "manifest-sha256.txt").read_text().splitlines()
    assert manifest_lines == sorted(manifest_lines, key=lambda line: line[66:])
    assert all(line[64:66] == "  " for line in manifest_lines)
    tag_listed = {line.split("  ", 1)[1] for line in (out / "tagmanifest-sha256.txt").open()}
    assert {n.strip() for n in tag_listed} == {
        "README.txt",
        "bag-info.txt",
        "bagit.txt",
        "manifest-sha256.txt",
    }
    readme = (out / "README.txt").read_text()
    assert "sha256sum -c manifest-sha256.txt" in readme and "FRANÇAIS" in readme
    assert not (out / ".exporters-journal.jsonl").exists()
    assert not (out / ".exporters-tmp").exists()


def test_flipped_byte_in_any_payload_file_fails_everywhere(make_tree, tmp_path, key):
    base = make_tree()
    out = tmp_path / "bag"
    result = _pack(base, out, signing_key=key)
    for entry in result.manifest:
        if entry.size == 0:
            continue
        victim = out / entry.path
        original = victim.read_bytes()
        flipped = bytearray(original)
        flipped[len(flipped) // 2] ^= 0x01
        victim.write_bytes(bytes(flipped))
        try:
            assert not bagit_valid(out), entry.path
            assert sha256sum_check(out).returncode != 0, entry.path
            report = verify_bag(out, [key.public_key])
            assert not report.ok
            assert report.failures[0] == f"{entry.path}: checksum mismatch"
        finally:
            victim.write_bytes(original)
    assert verify_bag(out, [key.public_key]).ok


def test_extra_or_missing_payload_file_fails_verify(make_tree, tmp_path):
    base = make_tree()
    out = tmp_path / "bag"
    _pack(base, out)
    broken = copy_bag(out, tmp_path / "extra")
    (broken / "data" / "smuggled.txt").write_text("x")
    assert any("not in manifest" in f for f in verify_bag(broken).failures)
    missing = copy_bag(out, tmp_path / "missing")
    (missing / "data/files/tenants/empty.txt").unlink()
    failures = verify_bag(missing).failures
    assert "data/files/tenants/empty.txt: missing" in failures
    assert any("Payload-Oxum" in f for f in failures)


def test_empty_source_gives_a_valid_bag_with_a_data_directory(tmp_path, key, capsys):
    (tmp_path / "empty" / "acme").mkdir(parents=True)
    out = tmp_path / "out_empty"
    result = pack(
        [f"file://{tmp_path}/empty/{{client}}/"],
        str(out),
        client="acme",
        signing_key=key,
        tar=True,
    )
    assert result.files == 0 and result.payload_oxum == "0.0"
    assert (out / "data").is_dir() and not any((out / "data").iterdir())  # RFC 8493, 2.1.2
    assert bagit_valid(out)
    assert verify_bag(out, [key.public_key]).ok
    assert main(["verify", str(out)]) == 0
    assert capsys.readouterr().out.startswith("OK:")
    with tarfile.open(tmp_path / "out_empty.tar") as archive:
        archive.extractall(tmp_path / "untarred", filter="data")
    assert bagit_valid(tmp_path / "untarred" / "out_empty")
    assert verify_bag(tmp_path / "untarred" / "out_empty", [key.public_key]).ok


def test_bag_without_data_directory_fails_verify(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    out = tmp_path / "bag"
    pack([f"file://{tmp_path}/src/"], str(out), client="")
    shutil.rmtree(out / "data", ignore_errors=True)  # as an older pack left an empty bag
    report = verify_bag(out)
    assert not report.ok
    assert report.failures == ["data/: missing (RFC 8493 requires it, even with no payload)"]
    assert main(["verify", str(out)]) == 1
    assert "data/: missing" in capsys.readouterr().err


def test_percent_in_name_is_encoded_per_rfc8493(tmp_path):
    root = tmp_path / "src"
    root.mkdir()
    (root / "100% sûr.txt").write_text("ok")
    out = tmp_path / "bag"
    pack([f"file://{root}/#docs"], str(out), client="")
    assert "data/files/docs/100%25 sûr.txt" in (out / "manifest-sha256.txt").read_text()
    assert verify_bag(out).ok


def test_control_character_in_name_is_refused_naming_the_file(tmp_path):
    root = tmp_path / "src"
    root.mkdir()
    (root / "bad\nname.txt").write_text("x")
    with pytest.raises(UnsafePathError, match=r"bad\\nname\.txt.*control characters"):
        pack([f"file://{root}/"], str(tmp_path / "bag"), client="")


def test_symlinked_directory_is_not_followed(tmp_path):
    root = tmp_path / "src"
    (root / "real").mkdir(parents=True)
    (root / "real" / "a.txt").write_text("a")
    (root / "loop").symlink_to(root)
    result = pack([f"file://{root}/#docs"], str(tmp_path / "bag"), client="")
    assert [m.path for m in result.manifest] == ["data/files/docs/real/a.txt"]
    assert [(s.name, s.reason) for s in result.skipped] == [
        ("loop/", "symlinked directory not followed")
    ]


def test_unsafe_client_id_is_refused(make_tree, tmp_path):
    base = make_tree()
    with pytest.raises(InputError, match="client id"):
        _pack(base, tmp_path / "bag", client="../other")


def test_two_sources_and_names(make_tree, tmp_path):
    base = make_tree()
    other = tmp_path / "more"
    other.mkdir()
    (other / "x.txt").write_text("x")
    with pytest.raises(InputError, match="name one with a URL fragment"):
        pack([f"file://{other}/", f"file://{other}/"], str(tmp_path / "b0"), client="acme")
    result = pack(
        [f"file://{base}/{{client}}/", f"file://{other}/#extra"],
        str(tmp_path / "b1"),
        client="acme",
    )
    assert "data/files/extra/x.txt" in {m.path for m in result.manifest}


def test_deterministic_tag_files_and_tar(make_tree, tmp_path, key):
    base = make_tree()
    first = _pack(base, tmp_path / "one" / "bag", signing_key=key, created=CREATED, tar=True)
    second = _pack(base, tmp_path / "two" / "bag", signing_key=key, created=CREATED, tar=True)
    for name in ("manifest-sha256.txt", "bag-info.txt", "tagmanifest-sha256.txt"):
        assert (tmp_path / "one/bag" / name).read_bytes() == (
            tmp_path / "two/bag" / name
        ).read_bytes()
    assert first.envelope == second.envelope
    assert first.tar_sha256 == second.tar_sha256
    assert "Bagging-Date: 2026-03-28" in (tmp_path / "one/bag/bag-info.txt").read_text()
    with tarfile.open(tmp_path / "one" / "bag.tar") as archive:
        members = archive.getnames()
        archive.extractall(tmp_path / "untarred", filter="data")
    assert "bag/bagit.txt" in members and "bag/signature.dsse.json" in members
    assert verify_bag(tmp_path / "untarred" / "bag", [key.public_key]).ok
    beside = json.loads((tmp_path / "one" / "bag.dsse.json").read_text())
    assert beside == first.envelope


def test_refuses_occupied_or_finished_destination(make_tree, tmp_path):
    base = make_tree()
    out = tmp_path / "bag"
    _pack(base, out)
    with pytest.raises(InputError, match="already holds a finished bag"):
        _pack(base, out)
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        _pack(base, occupied)


def test_progress_callback_reports_totals(make_tree, tmp_path):
    base = make_tree(big=2_000_000)
    seen = []
    result = _pack(base, tmp_path / "bag", progress=seen.append, workers=3)
    assert seen[-1].finished
    assert seen[-1].bytes_done == result.bytes == seen[-1].bytes_total
    assert seen[-1].files_done == result.files == seen[-1].files_total


def test_unreadable_file_fails_cleanly(tmp_path, monkeypatch):
    root = tmp_path / "src"
    root.mkdir()
    (root / "locked.txt").write_text("x")
    (root / "locked.txt").chmod(0)
    if os.geteuid() == 0:  # root reads mode-000 files: refuse the open as the kernel would
        import exporters.sources.files as files_source

        real_open = os.open

        def refusing_open(path, flags, *args, **kwargs):
            if str(path).endswith("locked.txt"):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(files_source.os, "open", refusing_open)
    with pytest.raises(PermissionError):
        pack([f"file://{root}/"], str(tmp_path / "bag"), client="")


@pytest.mark.parametrize(
    ("change", "size"),
    [("grows", 10_000), ("shrinks", 10_000), ("grows", 5_000_000), ("shrinks", 5_000_000)],
)
def test_a_file_that_changes_size_before_it_is_read_is_refused(tmp_path, monkeypatch, change, size):
    """A small file is read once and its short read taken as the end only at the fstat size."""
    root = tmp_path / "src"
    root.mkdir()
    target = root / "moving.bin"
    target.write_bytes(b"x" * size)
    real_readv = os.readv
    changed = False

    def readv_after_change(fd, buffers):
        nonlocal changed
        if not changed and os.path.samestat(os.fstat(fd), target.stat()):
            changed = True
            if change == "grows":
                with target.open("ab") as handle:
                    handle.write(b"more")
            else:
                os.truncate(target, size // 2)
        return real_readv(fd, buffers)

    monkeypatch.setattr(os, "readv", readv_after_change)
    with pytest.raises(InputError, match="changed while being exported"):
        pack([f"file://{root}/"], str(tmp_path / "bag"), client="")
    assert changed


def test_a_file_that_grows_after_it_was_read_is_exported_as_read(tmp_path, monkeypatch):
    root = tmp_path / "src"
    root.mkdir()
    target = root / "log.txt"
    target.write_bytes(b"line 1\n")
    real_readv = os.readv

    def readv_then_append(fd, buffers):
        count = real_readv(fd, buffers)
        if count and os.path.samestat(os.fstat(fd), target.stat()):
            with target.open("ab") as handle:
                handle.write(b"line 2\n")
        return count

    monkeypatch.setattr(os, "readv", readv_then_append)
    result = pack([f"file://{root}/"], str(tmp_path / "bag"), client="")
    assert (tmp_path / "bag" / result.manifest[0].path).read_bytes() == b"line 1\n"
    assert verify_bag(tmp_path / "bag").ok
