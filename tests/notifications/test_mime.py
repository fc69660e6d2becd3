"""The fast MIME builder writes byte for byte what the standard library writes."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta, timezone
from email import policy

import pytest

from gdpr_vault.notifications.messages import Attachment, build_email, build_email_reference

TEXT = (
    "À l'attention de Jean Dupont, Client SA\n\n"
    "Information préalable et écrite (RGPD art. 28(2)) : Processor envisage de recourir à un "
    "nouveau sous-traitant ultérieur, hébergé en France et en Allemagne.\n"
    "  - hosting of the production database   \n"
    "  - trailing tab\t\n"
    "=?utf-8?q?not-a-header?= and a line of exactly seventy-six characters: 0123456789abcdefgh\n"
    + "x" * 200
    + "\n\r\nlast line without newline: https://vault.example/api/v1/receipts/msg_1.AbC-dEf_"
)
HTML = "<p>Bonjour <b>&eacute;quipe</b>&nbsp;!</p>\n<p>" + "é" * 120 + "</p>\n"
PDF = Attachment("rapport.pdf", "application/pdf", b"%PDF-1.4 test" * 40)
JSON = Attachment("breach-brc_01-facts.json", "application/json", b'{"a": "\xc3\xa9"}\n')

CASES = [
    {},
    {"html": None},
    {"attachments": [PDF]},
    {"html": None, "attachments": [PDF, JSON]},
    {"to_name": "DPO 299", "to_email": "dpo299@client.example"},
    {"to_name": "", "to_email": "privacy@client.example"},
    {"to_name": "Hélène Durand-Lefèvre", "to_email": "helene@client.example"},
    {"to_name": "J. O'Brien, DPO", "to_email": "j.obrien@client.example"},
    {"to_name": "Jean  Dupont ", "to_email": "jd@client.example"},
    {"to_name": "A" * 80, "to_email": "long.address.of.someone@sub.domain.client.example"},
    {"to_name": "Jean", "to_email": "jean@clïent.example"},
    {"to_name": "=?utf-8?q?x?=", "to_email": "x@client.example"},
    {"subject": "Short"},
    {"subject": "Nouveau sous-traitant ultérieur : Nuage Souverain SAS, prise d'effet le " * 3},
    {"sender": "Processeur Sécurisé <notices@processor.example>"},
    {"sender": "notices@processor.example"},
    {"date": datetime(2026, 7, 14, 23, 59, 59, tzinfo=timezone(timedelta(hours=2)))},
    {"text": "", "html": ""},
    {"text": "ascii only\n", "html": None},
    {"attachments": [Attachment("façade.pdf", "application/pdf", b"x")]},
    {"attachments": [Attachment("empty.bin", "application/octet-stream", b"")]},
    {"attachments": [Attachment("noext", "", b"\x00\x01\x02" * 100)]},
    {"attachments": [Attachment("a" * 90 + ".txt", "text/plain", b"hello")]},
]


def _args(**changes: object) -> dict:
    base = {
        "message_id": "msg_01JNQ4Z8W6V3K2M1N0P9Q8R7S6",
        "notice_id": "ntc_01JNQ4Z8W6V3K2M1N0P9Q8R7S5",
        "sender": "Processor <notices@processor.example>",
        "to_name": "Jean Dupont",
        "to_email": "jean.dupont@client.example",
        "subject": "Nouveau sous-traitant ultérieur : Nuage Souverain SAS",
        "text": TEXT,
        "html": HTML,
        "attachments": [],
        "date": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    }
    return {**base, **changes}


@pytest.mark.parametrize("changes", CASES)
def test_fast_builder_equals_the_standard_library(changes):
    args = _args(**changes)
    fast = build_email(**args)
    assert fast == build_email_reference(**args)
    parsed = email.message_from_bytes(fast, policy=policy.default)
    assert parsed["Message-ID"] == f"<{args['message_id']}@processor.example>"
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip("\n") == (
        args["text"].replace("\r\n", "\n").rstrip("\n")
    )


def test_same_inputs_same_bytes():
    assert build_email(**_args()) == build_email(**_args())
    assert build_email(**_args()) != build_email(**_args(message_id="msg_other"))


def test_literal_lines_skip_the_encoder_and_match_it_exactly():
    import random

    from gdpr_vault.notifications.messages import _qp, _qp_line

    rng = random.Random(2045)
    alphabet = [chr(c) for c in range(32, 127)] + ["\t", "é", "€", "=", " "]
    for _ in range(20000):
        length = rng.choice(
            [0, 1, 12, 20, 26, 40, 60, 74, 75, 76, 77, 78, 79, 150, 155, 156, 233, 400]
        )
        line = "".join(rng.choice(alphabet) for _ in range(length)).encode()
        assert _qp(line) == _qp_line(line), line


def test_the_same_instant_in_two_zones_keeps_its_own_date_header():
    """Dates are formatted once per value: equal instants in two zones are still two headers."""
    utc = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    assert utc == paris
    for date in (utc, paris, utc):
        args = _args(date=date)
        assert build_email(**args) == build_email_reference(**args)
    assert b"+0100" in build_email(**_args(date=paris))
