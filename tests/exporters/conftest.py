"""Fixtures shared by the exporter tests: trees on disk, keys, a real S3 over HTTP, PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import bagit
import pytest

from exporters.signing import SigningKey, generate_key

PG_DSN = os.environ.get("EXPORTERS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def sha256sum_check(bag_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run GNU ``sha256sum -c`` in the bag root, as the README tells recipients to."""
    return subprocess.run(
        ["sha256sum", "--quiet", "-c", "manifest-sha256.txt"],
        cwd=bag_dir,
        capture_output=True,
        text=True,
        check=False,
    )


def bagit_valid(bag_dir: Path) -> bool:
    try:
        bagit.Bag(str(bag_dir)).validate()
    except bagit.BagError:
        return False
    return True


@pytest.fixture
def key() -> SigningKey:
    return generate_key()


@pytest.fixture
def make_tree(tmp_path: Path) -> Callable[..., Path]:
    """A client tree with awkward but legal names; returns the *template* root's parent."""

    def build(client: str = "acme", *, big: int = 0) -> Path:
        base = tmp_path / "tenants"
        root = base / client
        (root / "dir with space").mkdir(parents=True)
        (root / "accents").mkdir()
        (root / "dir with space" / "rapport final.txt").write_text("bonjour\n")
        (root / "accents" / "été à Noël – ñ.csv").write_text("a,b\n1,2\n")
        (root / "..not-a-parent").write_bytes(b"dots\n")
        (root / "empty.txt").write_bytes(b"")
        (root / "binary.bin").write_bytes(os.urandom(300_000))
        if big:
            (root / "big.bin").write_bytes(os.urandom(big))
        secret = tmp_path / "outside-secret.txt"
        secret.write_text("must never be exported\n")
        (root / "escape-link").symlink_to(secret)
        (root / "inside-link").symlink_to(root / "empty.txt")
        other = base / "other"
        other.mkdir(parents=True, exist_ok=True)
        (other / "not-acme.txt").write_text("other tenant\n")
        return base

    return build


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    pytest.importorskip("moto.server")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    """A boto3 client on the moto server, with throwaway credentials in the environment."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return boto3.client("s3", endpoint_url=s3_endpoint)


@pytest.fixture
def bucket(s3) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def pg():
    """A psycopg connection to the local PostgreSQL, or a skip saying why."""
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_DSN}: {str(exc).splitlines()[0]}")
    yield conn
    conn.close()


@pytest.fixture
def pg_table(pg) -> Iterator[str]:
    name = f"exp_orders_{uuid.uuid4().hex[:10]}"
    yield name
    pg.execute(f'DROP TABLE IF EXISTS "{name}"')


def copy_bag(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst
