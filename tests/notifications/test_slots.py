"""Grouped rendering (``notifications/slots.py``): the proof that templates print recipients'
values verbatim, and grouped output equal to a direct render for awkward values."""

from __future__ import annotations

import copy
import glob
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from gdpr_vault.notifications import slots
from gdpr_vault.notifications.messages import build_email, build_encoded_email
from gdpr_vault.notifications.render import (
    TEMPLATES_DIR,
    Rendered,
    environment,
    has_template,
    render,
)
from gdpr_vault.subprocessors import service as subprocessors  # declares its fact slots

PATHS = slots.slot_paths("subprocessor.change")


@pytest.mark.parametrize(
    "source",
    [
        "{{ client.legal_name }} {{ recipient.name }}",
        "{% if receipt_url %}<a href='{{ receipt_url }}'>x</a>{% endif %}",
        "{% if facts.kind == 'add' %}{{ facts.objection.url }}{% endif %}",
        "{{ facts['objection']['url'] }} {{ facts.objection.window.fr }}",
        "{% for a in facts.activities %}{{ a }} {{ notice.id }}{% endfor %}",
        "{% if x %}{% elif receipt_url %}{{ receipt_url }}{% endif %}",
    ],
)
def test_verbatim_uses_pass(source):
    assert slots.template_violations(source, PATHS) == []


@pytest.mark.parametrize(
    "source",
    [
        "{{ client.legal_name | upper }}",
        "{{ client.legal_name ~ '!' }}",
        "{% if client.legal_name == 'ACME' %}x{% endif %}",
        "{% if not receipt_url %}x{% endif %}",
        "{{ receipt_url[:10] }}",
        "{{ client.legal_name.split()[0] }}",
        "{% set c = client %}{{ c.legal_name }}",
        "{{ client }}",
        "{{ facts.objection }}",
        "{{ facts.objection | attr('url') }}",
        "{{ notice.facts.kind }}",
        "{% for client in [1] %}{{ client }}{% endfor %}",
        "{% include 'manual.fr.txt' %}",
        "{% macro m() %}{{ recipient.name }}{% endmacro %}{{ m() }}",
        "{% autoescape false %}{{ recipient.name }}{% endautoescape %}",
        "{{ receipt_url if receipt_url else '' }}",
    ],
)
def test_other_uses_are_refused(source):
    assert slots.template_violations(source, PATHS), source


def _kinds() -> list[str]:
    names = (Path(p).name for p in glob.glob(str(TEMPLATES_DIR / "*.subject.txt")))
    return sorted({n.rsplit(".", 3)[0] for n in names})


def test_the_fan_out_notice_is_grouped_and_every_kind_is_decided():
    for language in ("fr", "en"):
        assert slots.slottable("subprocessor.change", language, PATHS)
    for kind in _kinds():
        for language in ("fr", "en"):
            if has_template(kind, language):
                assert slots.slottable(kind, language, slots.slot_paths(kind)) in (True, False)


FACTS = {
    "activities": ["hosting", "support <level 2>"],
    "change_id": "spc_01m85c33emmyp8w11at3qrgms6",
    "data_categories": ["identité & contact"],
    "effective_date": "2026-05-01",
    "hosting_locations": ["FR", "DE"],
    "kind": "add",
    "objection": {
        "clause": "seed 004 DPA, Sous-traitance ultérieure",
        "extended_to_working_day": True,
        "from": "receipt",
        "in_writing_with_reasons": True,
        "silence_means_acceptance": True,
        "time_zone": "Europe/Paris",
        "url": "https://vault.example/api/v1/clients/cli_1/subprocessor-changes/spc_1/objection",
        "window": {"en": "1 month", "fr": "1 mois"},
    },
    "outside_eea": [],
    "register_activities": [{"id": "act_1", "reference": "R-1", "name": "Paie & RH"}],
    "replaces": None,
    "subprocessor": {
        "address": "12 rue de la Paix, 75002 Paris",
        "contact": "dpo@nuage.example",
        "country": "FR",
        "id": "sub_1",
        "legal_name": "Nuage <Souverain> SAS",
        "registration_id": "",
    },
    "summary": "",
    "transfer_mechanism": None,
}

AWKWARD = [
    "Société Générale & Fils",
    '<script>alert("x")</script>',
    "O'Brien   &   Co",
    "",
    "Ünïcödé " * 20,
    "{{ not a template }}",
    "=?utf-8?q?x?=",
    "line\nbreak",
]


def _context(number: int, name: str, receipt: str | None, url: str | None) -> dict:
    facts = copy.deepcopy(FACTS)
    if url is None:
        del facts["objection"]["url"]
    else:
        facts["objection"]["url"] = url
    notice = {
        "id": f"ntc_{number:026d}",
        "client_id": f"cli_{number:026d}",
        "kind": "subprocessor.change",
        "subject_type": "subprocessor_change",
        "subject_id": "spc_1",
        "facts": facts,
        "created_at": "2026-03-02T09:00:00Z",
    }
    return {
        "facts": facts,
        "notice": notice,
        "client": {"id": notice["client_id"], "legal_name": name},
        "recipient": {"name": name[::-1]},
        "receipt_url": receipt,
        "processor_name": "Vault & Co",
        "language": "fr",
    }


@pytest.mark.parametrize("language", ["fr", "en"])
def test_grouped_render_equals_the_direct_one(language):
    renderer = slots.SlotRenderer()
    nonce = f"\x00{slots._NONCE}:0\x00"
    for number, name in enumerate([*AWKWARD, nonce, f"x{nonce}y"]):
        for receipt in (f"https://vault.example/r/msg_{number}.tok&en", None, ""):
            for url in (f"https://vault.example/o/{name}", None, ""):
                context = _context(number, name, receipt, url)
                if url is None:  # a missing fact fails both ways (StrictUndefined)
                    with pytest.raises(UndefinedError):
                        render("subprocessor.change", language, context)
                    with pytest.raises(UndefinedError):
                        renderer("subprocessor.change", language, context)
                    continue
                expected = render("subprocessor.change", language, context)
                assert renderer("subprocessor.change", language, context) == expected


EMAIL_AWKWARD = [
    *AWKWARD,
    "a=b==c",
    "Client ",
    "tab\there\t",
    "x" * 77,
    "y" * 160,
    "é" * 30,
    "Nom = " + "z" * 70,
]


@pytest.mark.parametrize("language", ["fr", "en"])
def test_grouped_email_equals_the_one_built_from_the_direct_render(language):
    """Bodies encoded from a group's plan (values dropped into their lines) are the very bytes
    ``build_email`` writes from the direct render, whatever the values and line lengths."""
    renderer = slots.SlotRenderer()
    envelope = {
        "message_id": "msg_01",
        "notice_id": "ntc_01",
        "sender": "Vault <notices@vault.example>",
        "to_name": "DPO",
        "to_email": "dpo@client.example",
        "date": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    }
    for number, name in enumerate(EMAIL_AWKWARD):
        for pad in range(0, 90, 7):  # slides the values across the 78-column wrap
            receipt = f"https://vault.example/r/{'m' * pad}_{number}.tok=en"
            context = _context(number, name, receipt, f"https://vault.example/o/{name}{'p' * pad}")
            filled = renderer.fill("subprocessor.change", language, context)
            assert filled is not None
            direct = render("subprocessor.change", language, context)
            expected = build_email(
                **envelope,
                subject=direct.subject,
                text=direct.text,
                html=direct.html,
                attachments=(),
            )
            bodies = filled.bodies()
            if bodies is None:
                assert "\n" in name
                continue
            built = build_encoded_email(
                **envelope, subject=filled.subject, text_body=bodies[0], html_body=bodies[1]
            )
            assert built == expected, (name, pad)
    assert renderer.groups == 2  # an empty name is not a slot: its notices form a group apart


def test_recipients_with_the_same_terms_share_one_group():
    renderer = slots.SlotRenderer()
    for number in range(50):
        context = _context(number, f"Client {number} & fils", f"https://r/{number}", f"/o/{number}")
        renderer("subprocessor.change", "fr", context)
    assert renderer.groups == 1
    other = _context(99, "Client 99", "https://r/99", "/o/99")
    other["facts"]["objection"]["window"] = {"en": "15 days", "fr": "15 jours"}
    renderer("subprocessor.change", "fr", other)
    assert renderer.groups == 2


def test_subprocessor_module_declares_the_objection_link_as_its_slot():
    assert "facts.objection.url" in slots.slot_paths(subprocessors.NOTICE_KIND)


@pytest.mark.parametrize(
    "source",
    [
        "{% filter upper %}{{ recipient.name }}{% endfilter %}",
        "{% set g %}{{ client.legal_name }}{% endset %}{{ g | length }}",
        "{{ recipient.get('name') | upper }}",
        "{% for k in client.values() %}{{ k }}{% endfor %}",
        "{{ facts.objection.items() | list }}",
        "{{ self._TemplateReference__context.recipient.name }}",
        "{% for x in [1] recursive %}{{ loop([recipient.name]) }}{% endfor %}",
    ],
)
def test_constructs_that_transform_a_slot_out_of_sight_are_refused(source):
    """Found by review: each passed the first version of the proof and rendered differently."""
    assert slots.template_violations(source, PATHS), source


def test_a_sentinel_changed_on_its_way_out_falls_back_to_direct_rendering(monkeypatch):
    """Last line of defence: a group whose output holds a damaged sentinel (here a filter
    block the proof is told it did not see) is dropped, and each notice renders directly."""
    env = environment()
    subject = env.from_string("Notice")
    text = env.from_string("{% filter upper %}Dear {{ recipient.name }}{% endfilter %}")
    subject.name, text.name = "t.subject.txt", "t.txt"
    monkeypatch.setattr(slots, "templates", lambda kind, language: ("fr", subject, text, None))
    monkeypatch.setattr(slots, "slottable", lambda *args: True)
    monkeypatch.setattr(
        slots,
        "render",
        lambda kind, language, ctx: Rendered("fr", "Notice", text.render(ctx), None),
    )
    monkeypatch.setattr(slots, "VERIFY", False)
    renderer = slots.SlotRenderer()
    context = _context(1, "Ada", None, "/o/1")
    assert renderer("k", "fr", context).text == "DEAR ADA"
    assert renderer.groups == 1 and None in renderer._groups.values()


def test_a_group_key_from_the_facts_text_groups_alike_and_separates_the_rest():
    """Given the facts' canonical text, the key masks each slotted fact in it; notices alike
    but for their own values share a group, any other difference makes a new one, and a value
    found twice in the text falls back to the full ``repr``; every output equals the direct
    render."""
    from gdpr_vault.evidence.trail import canonical_json

    renderer = slots.SlotRenderer()

    def fill(context: dict) -> None:
        text = canonical_json(context["facts"])
        filled = renderer.fill("subprocessor.change", "fr", context, facts_text=text)
        assert filled is not None
        assert filled.rendered() == render("subprocessor.change", "fr", context)

    for number in range(20):
        fill(_context(number, f"Client {number}", f"https://r/{number}", f"/o/{number}"))
    assert renderer.groups == 1
    other = _context(98, "Client 98", "https://r/98", "/o/98")
    other["facts"]["summary"] = "différent"
    fill(other)
    assert renderer.groups == 2
    twice = _context(99, "Client 99", "https://r/99", "/o/99")
    twice["facts"]["summary"] = "/o/99"  # the objection link also appears elsewhere
    fill(twice)
    assert renderer.groups == 3
    assert any(len(key) == 3 for key in renderer._groups)  # that one keyed by its repr
