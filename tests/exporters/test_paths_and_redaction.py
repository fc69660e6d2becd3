"""Unit checks for the two guards every message and every path goes through."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporters.errors import UnsafePathError
from exporters.paths import decode_manifest_path, encode_manifest_path, safe_relative
from exporters.redact import Redactor, redact_url


@pytest.mark.parametrize(
    "name",
    [
        "a/../b",
        "../x",
        "/etc/passwd",
        "a//b",
        "./a",
        "a/.",
        "tab\there",
        "del\x7f",
        "nul\x00",
        "bad\udcff",
    ],
)
def test_unsafe_names_are_refused(name):
    with pytest.raises(UnsafePathError, match="origin"):
        safe_relative(name, origin="origin")


@pytest.mark.parametrize("name", ["..hidden", "a..b/c", "dir with space/été.txt", "100%", "a\\b"])
def test_odd_but_safe_names_pass(name):
    assert safe_relative(name, origin="o") == name


def _refused_by_the_plain_rules(name: str) -> bool:
    """The rules spelled out one by one, as safe_relative applied them before its fast path."""
    return (
        any(0xD800 <= ord(ch) <= 0xDFFF for ch in name)
        or any(ord(ch) <= 0x1F or 0x7F <= ord(ch) <= 0x9F for ch in name)
        or name.startswith("/")
        or any(part in ("", ".", "..") for part in name.split("/"))
    )


@given(
    st.lists(
        st.one_of(
            st.sampled_from(["", ".", "..", "...", ".a", "a.", "é", " "]),
            st.text(alphabet=st.characters(max_codepoint=0xE000), max_size=6),
        ),
        min_size=1,
        max_size=5,
    ).map("/".join)
)
def test_the_fast_path_refuses_exactly_what_the_plain_rules_refuse(name):
    try:
        assert safe_relative(name, origin="o") == name
        refused = False
    except UnsafePathError:
        refused = True
    assert refused == _refused_by_the_plain_rules(name)


def test_manifest_encoding_is_minimal():
    assert encode_manifest_path("a b/é%\r\n") == "a b/é%25%0D%0A"
    assert decode_manifest_path("x%0d%0a%25") == "x\r\n%"


@given(st.text())
def test_manifest_encoding_round_trips(name):
    encoded = encode_manifest_path(name)
    assert "\n" not in encoded and "\r" not in encoded
    assert decode_manifest_path(encoded) == name


def test_redact_url():
    assert redact_url("postgresql://u:pw@h:5432/db?password=x&table=a:b") == (
        "postgresql://***@h:5432/db?password=***&table=a:b"
    )
    assert redact_url("s3://AK:SK@bucket/p/?endpoint_url=http://h") == (
        "s3://***@bucket/p/?endpoint_url=http://h"
    )
    assert redact_url("file:///srv/x/") == "file:///srv/x/"


def test_redactor_scrubs_decoded_secrets():
    redactor = Redactor()
    redactor.add_url("postgresql://user:p%40ss%2Fword@h/db")
    text = redactor('connection to "h" failed for user with password p@ss/word')
    assert "p@ss/word" not in text
    assert redactor("see s3://KEY:SECRET@bucket/x") == "see s3://***@bucket/x"
