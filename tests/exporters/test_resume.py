"""kill -9 in the middle of an export, rerun, and get the same bag without redoing work."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from exporters import InputError, pack, verify_bag
from tests.exporters.conftest import bagit_valid, sha256sum_check

# Runs the real CLI in a child process that SIGKILLs itself right after the Nth journal line is
# fsync'd: the harshest crash there is, at a point where other workers are mid-file.
CRASHER = """
import os, signal, sys
from exporters import journal
limit = int(os.environ["CRASH_AFTER"])
original = journal.Journal.append
count = 0
def append(self, record):
    global count
    original(self, record)
    count += 1
    if count >= limit:
        os.kill(os.getpid(), signal.SIGKILL)
journal.Journal.append = append
from exporters.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _tree(root: Path) -> None:
    root.mkdir()
    for i in range(40):
        folder = root / ("sous dossier" if i % 3 else "plain")
        folder.mkdir(exist_ok=True)
        (folder / f"fichier n°{i:02}.bin").write_bytes(os.urandom(200_000 + i))


def test_kill_9_then_rerun_finishes_identically(tmp_path, key):
    src = tmp_path / "src"
    _tree(src)
    key_path = tmp_path / "key.pem"
    from exporters.signing import save_private_key

    save_private_key(key, key_path)
    out = tmp_path / "resumed"
    args = ["pack", "--source", f"file://{src}/#docs", "--out", str(out), "--case-id", "K9"]
    args += ["--sign-key", str(key_path), "--workers", "2"]
    env = {**os.environ, "CRASH_AFTER": "15"}
    child = subprocess.run(
        [sys.executable, "-c", CRASHER, *args], env=env, capture_output=True, check=False
    )
    assert child.returncode == -signal.SIGKILL

    journal_path = out / ".exporters-journal.jsonl"
    lines = journal_path.read_text().splitlines()
    header, entries = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    assert len(entries) == 15
    before = {e["path"]: (out / e["path"]).stat() for e in entries}
    assert not (out / "bagit.txt").exists()

    from exporters.signing import load_private_key

    result = pack(
        [f"file://{src}/#docs"],
        str(out),
        client="",
        case_id="K9",
        signing_key=load_private_key(key_path),
    )
    assert result.resumed
    assert result.reused_files == 15 and result.copied_files == 25
    for path, st in before.items():  # completed files were left alone, not re-copied
        now = (out / path).stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    assert not journal_path.exists() and not (out / ".exporters-tmp").exists()
    assert bagit_valid(out) and sha256sum_check(out).returncode == 0
    assert verify_bag(out, [key.public_key]).ok
    assert header["created"][:10] in (out / "bag-info.txt").read_text()

    fresh = tmp_path / "fresh"
    pack([f"file://{src}/#docs"], str(fresh), client="", case_id="K9")
    assert (fresh / "manifest-sha256.txt").read_bytes() == (
        out / "manifest-sha256.txt"
    ).read_bytes()


def test_rerun_with_other_arguments_is_refused(tmp_path):
    src = tmp_path / "src"
    _tree(src)
    out = tmp_path / "bag"
    child = subprocess.run(
        [sys.executable, "-c", CRASHER, "pack", "--source", f"file://{src}/", "--out", str(out)],
        env={**os.environ, "CRASH_AFTER": "3"},
        capture_output=True,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL
    from exporters.cli import main

    assert main(["pack", "--source", f"file://{src}/", "--out", str(out), "--case-id", "X"]) == 2
    assert main(["pack", "--source", f"file://{src}/", "--out", str(out)]) == 0
    assert verify_bag(out).ok


def test_changed_source_file_is_redone_on_resume(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"{i}.txt").write_text(f"v1 {i}\n")
    out = tmp_path / "bag"
    child = subprocess.run(
        [sys.executable, "-c", CRASHER, "pack", "--source", f"file://{src}/", "--out", str(out),
         "--workers", "1"],
        env={**os.environ, "CRASH_AFTER": "3"},
        capture_output=True,
        check=False,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL
    (src / "0.txt").write_text("v2, longer than before\n")
    result = pack([f"file://{src}/"], str(out), client="")
    assert result.reused_files == 2 and result.copied_files == 4
    assert (out / "data/files/src/0.txt").read_text() == "v2, longer than before\n"
    assert verify_bag(out).ok


def test_a_second_run_on_a_bag_being_written_is_refused_and_changes_nothing(tmp_path):
    """Two runs on one bag would empty each other's temporary folder; the second one stops."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    bag = tmp_path / "bag"
    bag.mkdir()
    holder = os.open(bag, os.O_RDONLY | os.O_DIRECTORY)  # as the first run holds it
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(InputError, match="being written by another export"):
            pack([f"file://{src}/"], str(bag), client="")
        assert list(bag.iterdir()) == []
    finally:
        os.close(holder)
    result = pack([f"file://{src}/"], str(bag), client="")  # the lock went with its holder
    assert result.files == 1 and verify_bag(bag).ok
