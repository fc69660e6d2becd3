"""S3 over HTTP (moto server): current versions only as a source; multipart as a destination."""

from __future__ import annotations

import os
import shutil

import pytest

from exporters import InputError, pack, verify_bag
from exporters.sources import open_source
from tests.exporters.conftest import bagit_valid, sha256sum_check

pytestmark = pytest.mark.s3


def _download_bag(s3, bucket: str, prefix: str, target) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            path = target / item["Key"][len(prefix) :]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())


def test_s3_source_exports_current_versions_only(s3, s3_endpoint, bucket, tmp_path, key):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"first", b"second", b"current version"):
        s3.put_object(Bucket=bucket, Key="tenants/acme/contrat signé.pdf", Body=body)
    s3.put_object(Bucket=bucket, Key="tenants/acme/deleted.txt", Body=b"old")
    s3.delete_object(Bucket=bucket, Key="tenants/acme/deleted.txt")
    s3.put_object(Bucket=bucket, Key="tenants/acme/folder/", Body=b"")
    s3.put_object(Bucket=bucket, Key="tenants/acme/folder/nested file.txt", Body=b"nested")
    s3.put_object(Bucket=bucket, Key="tenants/acme-corp/not-ours.txt", Body=b"no")
    out = tmp_path / "bag"
    url = f"s3://{bucket}/tenants/{{client}}?endpoint_url={s3_endpoint}#docs"
    result = pack([url], str(out), client="acme", signing_key=key)
    assert [m.path for m in result.manifest] == [
        "data/s3/docs/contrat signé.pdf",
        "data/s3/docs/folder/nested file.txt",
    ]
    assert (out / "data/s3/docs/contrat signé.pdf").read_bytes() == b"current version"
    assert bagit_valid(out) and sha256sum_check(out).returncode == 0
    assert verify_bag(out, [key.public_key]).ok
    inventory = list(open_source(url, "acme").inventory())
    assert [i.name for i in inventory] == ["contrat signé.pdf", "folder/nested file.txt"]


def test_s3_key_with_dotdot_is_refused(s3, s3_endpoint, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key="t/acme/../../etc/passwd", Body=b"x")
    with pytest.raises(InputError, match=r"'\.\.' component"):
        pack([f"s3://{bucket}/t/acme/?endpoint_url={s3_endpoint}"], str(tmp_path / "b"), client="")


def test_s3_destination_multipart_and_tar(s3, s3_endpoint, bucket, tmp_path, make_tree):
    base = make_tree(big=11 * 1024 * 1024 + 17)  # > 2 parts of 5 MiB
    out = f"s3://{bucket}/exports/case-7/?endpoint_url={s3_endpoint}"
    result = pack(
        [f"file://{base}/{{client}}/"],
        out,
        client="acme",
        case_id="C7",
        part_size=5 << 20,
        tar=True,
    )
    assert result.bag == f"s3://{bucket}/exports/case-7/"
    head = s3.head_object(Bucket=bucket, Key="exports/case-7/data/files/tenants/big.bin")
    assert head["ContentLength"] == 11 * 1024 * 1024 + 17
    assert head["ETag"].strip('"').endswith("-3")  # a 3-part multipart upload
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "exports/case-7.tar" in keys
    assert not any(".exporters-journal" in k for k in keys)
    local = tmp_path / "downloaded"
    _download_bag(s3, bucket, "exports/case-7/", local)
    assert bagit_valid(local) and verify_bag(local).ok
    tar_path = tmp_path / "case-7.tar"
    tar_path.write_bytes(s3.get_object(Bucket=bucket, Key="exports/case-7.tar")["Body"].read())
    shutil.unpack_archive(tar_path, tmp_path / "untar", filter="data")
    assert verify_bag(tmp_path / "untar" / "case-7").ok


def test_s3_destination_resumes_after_failure(s3, s3_endpoint, bucket, tmp_path, monkeypatch):
    from exporters import journal

    root = tmp_path / "src"
    root.mkdir()
    for i in range(12):
        (root / f"f{i:02}.bin").write_bytes(os.urandom(10_000 + i))
    out = f"s3://{bucket}/exports/case-8/?endpoint_url={s3_endpoint}"
    original = journal.Journal.append
    calls = {"n": 0}

    def failing_append(self, record):
        calls["n"] += 1
        if calls["n"] > 5:
            raise RuntimeError("simulated crash")
        original(self, record)

    monkeypatch.setattr(journal.Journal, "append", failing_append)
    with pytest.raises(RuntimeError):
        pack([f"file://{root}/#src"], out, client="", workers=1)
    monkeypatch.setattr(journal.Journal, "append", original)
    result = pack([f"file://{root}/#src"], out, client="", workers=1)
    assert result.resumed and result.reused_files == 5 and result.copied_files == 7
    local = tmp_path / "downloaded"
    _download_bag(s3, bucket, "exports/case-8/", local)
    assert bagit_valid(local) and verify_bag(local).ok


def test_empty_s3_source_to_s3_gives_a_tar_that_is_a_valid_bag(s3, s3_endpoint, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key="t/other/a.txt", Body=b"not acme")
    source = f"s3://{bucket}/t/{{client}}/?endpoint_url={s3_endpoint}"
    out = f"s3://{bucket}/exports/empty/?endpoint_url={s3_endpoint}"
    result = pack([source], out, client="acme", tar=True)
    assert result.files == 0
    tar_path = tmp_path / "empty.tar"
    tar_path.write_bytes(s3.get_object(Bucket=bucket, Key="exports/empty.tar")["Body"].read())
    shutil.unpack_archive(tar_path, tmp_path / "untar", filter="data")
    assert bagit_valid(tmp_path / "untar" / "empty") and verify_bag(tmp_path / "untar" / "empty").ok
