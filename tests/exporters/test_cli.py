"""The CLI: exit codes 0/1/2, one-line errors, and no credential ever printed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from exporters.cli import main
from exporters.signing import save_private_key

SECRET = "Sup3rS3cretPassw0rd"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_pack_and_verify_round_trip(capsys, tmp_path, key):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a b.txt").write_text("x")
    key_path, pub_path = tmp_path / "k.pem", tmp_path / "pub.pem"
    save_private_key(key, key_path)
    pub_path.write_bytes(key.public_pem())
    out = tmp_path / "bag"
    code, stdout, err = run(
        capsys, "pack", "--source", f"file://{src}/", "--out", str(out), "--sign-key", str(key_path)
    )
    assert code == 0 and err == ""
    assert f"signed with key {key.keyid}" in stdout
    code, stdout, _ = run(capsys, "verify", str(out), "--public-key", str(pub_path))
    assert code == 0 and stdout.startswith("OK:") and "signature valid" in stdout

    (out / "data/files/src/a b.txt").write_text("y")
    code, stdout, err = run(capsys, "verify", str(out), "--public-key", str(pub_path))
    assert code == 1 and stdout.startswith("FAILED:")
    assert "checksum mismatch" in one_line(err)


def test_pack_shortens_the_switch_interval_only_while_it_runs(capsys, tmp_path, monkeypatch):
    from exporters import cli

    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("x")
    seen: list[float] = []
    real_pack = cli.pack

    def pack(*args, **kwargs):
        seen.append(sys.getswitchinterval())
        return real_pack(*args, **kwargs)

    monkeypatch.setattr(cli, "pack", pack)
    before = sys.getswitchinterval()
    code, _, _ = run(capsys, "pack", "--source", f"file://{src}/", "--out", str(tmp_path / "b"))
    assert code == 0
    assert seen == [cli.PACK_SWITCH_INTERVAL] and before > cli.PACK_SWITCH_INTERVAL
    assert sys.getswitchinterval() == before  # embedded callers get their interval back
    code, _, _ = run(capsys, "pack", "--source", "nope://x", "--out", str(tmp_path / "c"))
    assert code == 2 and sys.getswitchinterval() == before  # also after a failure


def test_unsigned_pack_says_so(capsys, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("x")
    code, stdout, _ = run(
        capsys, "pack", "--source", f"file://{src}/", "--out", str(tmp_path / "b")
    )
    assert code == 0 and "unsigned" in stdout
    code, stdout, _ = run(capsys, "verify", str(tmp_path / "b"))
    assert code == 0 and "unsigned" in stdout


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["pack", "--source", f"ftp://user:{SECRET}@host/x", "--out", "/tmp/x"],
         "unsupported source scheme"),
        (["pack", "--source", "file:///definitely/not/here/", "--out", "/tmp/x"], "does not exist"),
        (["pack", "--out", "/tmp/x"], "--source"),
        (["verify"], "BAG"),
        (["frobnicate"], "invalid choice"),
        (["verify", "/definitely/not/a/bag"], "is not a directory"),
        (["pack", "--source", "file:///tmp/", "--out", "/tmp/x", "--sign-key", "/no/k.pem"],
         "does not exist"),
        (["pack", "--source", "file:///tmp/", "--out", "ftp://h/x"], "unsupported destination"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_with_one_line(capsys, argv, expected):
    code, _stdout, err = run(capsys, *argv)
    assert code == 2
    line = one_line(err)
    assert expected in line and SECRET not in line


def test_not_a_bag_fails_verification(capsys, tmp_path):
    code, _stdout, err = run(capsys, "verify", str(tmp_path))
    assert code == 1 and "bagit.txt: missing" in one_line(err)


@pytest.mark.parametrize(
    "source",
    [
        f"postgresql://admin:{SECRET}@127.0.0.1:1/db?table=orders:tenant_id",
        f"postgresql://127.0.0.1:1/db?password={SECRET}&table=orders:tenant_id",
        f"s3://AKIAEXAMPLE:{SECRET}@bucket/tenants/?endpoint_url=http://127.0.0.1:1",
    ],
)
def test_credentials_never_printed(capsys, tmp_path, source, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, stdout, err = run(capsys, "pack", "--source", source, "--out", str(tmp_path / "b"))
    assert code == 2
    line = one_line(err)
    assert SECRET not in stdout + err
    assert "***" in line or "127.0.0.1" in line


def test_credentials_never_printed_on_success(capsys, tmp_path, s3, s3_endpoint, bucket):
    s3.put_object(Bucket=bucket, Key="t/acme/a.txt", Body=b"a")
    src = f"s3://testing:testing{SECRET}@{bucket}/t/{{client}}/?endpoint_url={s3_endpoint}"
    code, stdout, err = run(
        capsys, "pack", "--source", src, "--client", "acme", "--out", str(tmp_path / "b")
    )
    # moto accepts any credentials; what matters is the output and the bag never show them.
    assert code == 0, err
    assert SECRET not in stdout + err
    for path in (tmp_path / "b").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_python_dash_m_entry_point(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "exporters", "pack", "--source", "nope://x", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert one_line(done.stderr).startswith("exporters: error: unsupported source scheme")


def test_verify_with_a_key_refuses_a_bag_without_signature(capsys, tmp_path, key):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("x")
    pub_path = tmp_path / "pub.pem"
    pub_path.write_bytes(key.public_pem())
    out = tmp_path / "b"
    code, _, _ = run(capsys, "pack", "--source", f"file://{src}/", "--out", str(out))
    assert code == 0
    code, stdout, err = run(capsys, "verify", str(out), "--public-key", str(pub_path))
    assert code == 1 and stdout.startswith("FAILED:")
    assert "no signature, but a public key was given" in one_line(err)
