"""``--out`` is refused, before anything is written, where the bag would copy itself or land
inside another bag: inside, equal to or around a source, or under a bag's root."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporters import InputError, pack, verify_bag
from exporters.cli import main
from tests.exporters.conftest import bagit_valid


def _source(tmp_path: Path) -> Path:
    root = tmp_path / "s" / "acme"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "f.txt").write_text("hi\n")
    (root / "sub" / "deeper" / "g.txt").write_text("deep\n")
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(root.rglob("*"))
    }


def _pack_acme(tmp_path: Path, out: Path | str):
    return pack([f"file://{tmp_path}/s/{{client}}/"], str(out), client="acme")


@pytest.mark.parametrize(
    ("out", "says"),
    [
        ("s/acme/bag", "lies inside file source"),
        ("s/acme/sub/deeper/new/bag", "lies inside file source"),
        ("s/acme/sub", "lies inside file source"),
        ("s/acme", "is the directory of file source"),
        ("s", "contains file source"),
        ("link-to-acme/bag", "lies inside file source"),
        ("link-to-s/acme/new/bag", "lies inside file source"),
        ("s/acme/sub/../bag", "lies inside file source"),
    ],
)
def test_out_overlapping_a_file_source_is_refused_and_nothing_is_written(tmp_path, out, says):
    root = _source(tmp_path)
    (tmp_path / "link-to-acme").symlink_to(root)
    (tmp_path / "link-to-s").symlink_to(tmp_path / "s")
    before = _tree(tmp_path / "s")
    with pytest.raises(InputError, match=says) as caught:
        _pack_acme(tmp_path, tmp_path / out)
    assert "\n" not in str(caught.value)
    assert _tree(tmp_path / "s") == before  # no directory, no .part, no journal


def test_out_beside_the_source_is_fine(tmp_path):
    _source(tmp_path)
    result = _pack_acme(tmp_path, tmp_path / "s" / "acme-bag")  # a sibling, not a child
    assert result.files == 2 and bagit_valid(tmp_path / "s" / "acme-bag")


@pytest.mark.parametrize("inside", ["data/inside", "data", "deeper/new", "."])
def test_out_inside_a_finished_bag_is_refused_and_the_bag_still_verifies(tmp_path, inside):
    _source(tmp_path)
    outer = tmp_path / "outer"
    _pack_acme(tmp_path, outer)
    before = _tree(outer)
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("x")
    target = outer / inside
    message = "already holds a finished bag" if inside == "." else f"lies inside the bag {outer}"
    with pytest.raises(InputError, match=message):
        pack([f"file://{other}/"], str(target), client="")
    assert _tree(outer) == before
    assert verify_bag(outer).ok and bagit_valid(outer)


def test_out_inside_an_unfinished_bag_is_refused(tmp_path):
    _source(tmp_path)
    outer = tmp_path / "outer"
    outer.mkdir()
    (outer / ".exporters-journal.jsonl").write_text("{}\n")  # an export under way or crashed
    with pytest.raises(InputError, match=f"lies inside the unfinished bag {outer}"):
        _pack_acme(tmp_path, outer / "data" / "nested")
    assert sorted(p.name for p in outer.iterdir()) == [".exporters-journal.jsonl"]


def test_cli_refuses_out_inside_the_source_with_exit_2(capsys, tmp_path):
    root = _source(tmp_path)
    before = _tree(root)
    for out in (root / "bag", root / "a" / "b" / "bag"):
        code = main(
            [
                "pack",
                "--source",
                f"file://{tmp_path}/s/{{client}}/",
                "--client",
                "acme",
                "--out",
                str(out),
            ]
        )
        err = capsys.readouterr().err
        assert code == 2
        assert len(err.splitlines()) == 1 and "lies inside file source" in err, err
        assert _tree(root) == before


@pytest.mark.s3
@pytest.mark.parametrize(
    ("out", "says"),
    [
        ("t/acme/bag/", "lies inside S3 source"),
        ("t/acme/", "is the prefix of S3 source"),
        ("t/", "contains S3 source"),
    ],
)
def test_s3_out_overlapping_an_s3_source_is_refused(s3, s3_endpoint, bucket, out, says):
    s3.put_object(Bucket=bucket, Key="t/acme/a.txt", Body=b"a")
    source = f"s3://{bucket}/t/{{client}}/?endpoint_url={s3_endpoint}"
    with pytest.raises(InputError, match=says):
        pack([source], f"s3://{bucket}/{out}?endpoint_url={s3_endpoint}", client="acme")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["t/acme/a.txt"]


@pytest.mark.s3
def test_s3_out_beside_an_s3_source_is_fine(s3, s3_endpoint, bucket):
    s3.put_object(Bucket=bucket, Key="t/acme/a.txt", Body=b"a")
    source = f"s3://{bucket}/t/{{client}}/?endpoint_url={s3_endpoint}"
    result = pack([source], f"s3://{bucket}/t/acme-bag/?endpoint_url={s3_endpoint}", client="acme")
    assert result.files == 1
