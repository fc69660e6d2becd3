"""Register import: malformed documents are refused with a field and a rule, never a 500.

Each body below used to end in a 500 (wrong JSON types in the document, a controller without
``client_id``, a lone surrogate, a CSV cell over the csv module's field size limit) or, for
NUL characters in decoded strings, was stored (and a 500 on PostgreSQL). Every refusal writes
nothing: a valid activity in the same file is not created either.
"""

from __future__ import annotations

import json

import pytest

from gdpr_vault.registers.tables import ProcessingActivity
from tests.registers.conftest import h

IMPORT = "/api/v1/register/import"
PROBLEM = "application/problem+json"
GOOD = {"reference": "R-OK", "name": "valid entry in the same file"}


def doc(*activities: dict, **top: object) -> dict:
    return {"schema_version": "1", "activities": [GOOD, *activities], **top}


def csv_body(header: str, *rows: str) -> bytes:
    return ("\r\n".join([header, "R-OK,valid entry in the same file,", *rows]) + "\r\n").encode()


async def post_import(api, tokens, content: bytes, content_type: str):
    return await api.post(
        IMPORT,
        params={"reason": "reprise du registre"},
        content=content,
        headers={**h(tokens.dpo), "content-type": content_type},
    )


async def assert_refused(response, line: int, field: str, rule: str) -> None:
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert (body["field"], body["rule"]) == (field, rule), body
    assert (line, field, rule) in [(e["line"], e["field"], e["rule"]) for e in body["errors"]]
    assert await ProcessingActivity.count() == 0


# (case, document, line, field, rule): JSON documents, sent as application/json.
JSON_CASES = [
    (
        "controller-without-client-id",
        doc(controllers=[{"activity_ids": ["x"]}]),
        0,
        "controllers[0].client_id",
        "required",
    ),
    (
        "controller-client-id-not-string",
        doc(controllers=[{"client_id": ["x"], "activity_ids": []}]),
        0,
        "controllers[0].client_id",
        "string",
    ),
    (
        "controller-activity-ids-number",
        doc(controllers=[{"client_id": "cli_x", "activity_ids": 5}]),
        0,
        "controllers[0].activity_ids",
        "list",
    ),
    (
        "controller-activity-ids-string",
        doc(controllers=[{"client_id": "cli_x", "activity_ids": "pra_x"}]),
        0,
        "controllers[0].activity_ids",
        "list",
    ),
    (
        "controller-activity-id-not-string",
        doc(controllers=[{"client_id": "cli_x", "activity_ids": [["x"]]}]),
        0,
        "controllers[0].activity_ids[0]",
        "string",
    ),
    ("controllers-not-list", doc(controllers={"client_id": "x"}), 0, "controllers", "list"),
    ("controller-not-object", doc(controllers=["cli_x"]), 0, "controllers[0]", "object"),
    (
        "client-ids-number",
        doc({"reference": "R", "name": "n", "client_ids": 5}),
        2,
        "client_ids",
        "list",
    ),
    (
        "client-ids-nested",
        doc({"reference": "R", "name": "n", "client_ids": [["x"]]}),
        2,
        "client_ids[0]",
        "string",
    ),
    (
        "activity-id-number",
        doc({"reference": "R", "name": "n", "activity_id": 7}),
        2,
        "activity_id",
        "string",
    ),
    (
        "subprocessor-not-object",
        doc({"reference": "R", "name": "n", "subprocessors": ["spr_x"]}),
        2,
        "subprocessors[0]",
        "object",
    ),
    (
        "client-register-id-list",
        doc(kind="client-register", client_id=["x"]),
        0,
        "client_id",
        "string",
    ),
    ("client-register-without-id", doc(kind="client-register"), 0, "client_id", "required"),
    ("unknown-kind", doc(kind="client_register", client_id="cli_x"), 0, "kind", "enum"),
    (
        "lone-surrogate",
        doc({"reference": "R", "name": "a\ud800b"}),
        2,
        "name",
        "json-syntax",
    ),
    (
        "lone-surrogate-in-controller",
        doc(controllers=[{"client_id": "cli_\udc00", "activity_ids": []}]),
        0,
        "controllers[0].client_id",
        "json-syntax",
    ),
    ("nul-in-name", doc({"reference": "R-4D", "name": "a\u0000b"}), 2, "name", "no-nul-character"),
    (
        "nul-in-client-id",
        doc({"reference": "R", "name": "n", "client_ids": ["cli_\u0000"]}),
        2,
        "client_ids[0]",
        "no-nul-character",
    ),
    (
        "nul-in-transfer",
        doc(
            {"reference": "R", "name": "n", "transfers": [{"country": "US", "recipient": "\u0000"}]}
        ),
        2,
        "transfers[0].recipient",
        "no-nul-character",
    ),
]


@pytest.mark.parametrize(
    ("document", "line", "field", "rule"),
    [case[1:] for case in JSON_CASES],
    ids=[case[0] for case in JSON_CASES],
)
async def test_malformed_json_document_is_refused(api, tokens, document, line, field, rule):
    # json.dumps escapes NUL and lone surrogates as \u0000 and \ud800: the text itself is clean.
    content = json.dumps(document).encode()
    response = await post_import(api, tokens, content, "application/json")
    await assert_refused(response, line, field, rule)


async def test_the_sweeps_exact_bodies_are_refused(api, tokens):
    first = (
        b'{"schema_version":"1","activities":[{"reference":"R","name":"n"}],'
        b'"controllers":[{"activity_ids":["x"]}]}'
    )
    await assert_refused(
        await post_import(api, tokens, first, "application/json"),
        0,
        "controllers[0].client_id",
        "required",
    )
    nul = b'{"schema_version":"1","activities":[{"reference":"R-4D","name":"a\\u0000b"}]}'
    await assert_refused(
        await post_import(api, tokens, nul, "application/json"), 1, "name", "no-nul-character"
    )
    surrogate = b'{"schema_version":"1","activities":[{"reference":"R","name":"a\\ud800b"}]}'
    await assert_refused(
        await post_import(api, tokens, surrogate, "application/json"), 1, "name", "json-syntax"
    )


# (case, CSV text, line, field, rule): sent as text/csv; the valid row is line 2.
CSV_CASES = [
    (
        "nul-in-transfers-cell",
        csv_body(
            "reference,name,transfers", 'R,n,"[{""country"": ""US"", ""recipient"": ""a\\u0000""}]"'
        ),
        3,
        "transfers[0].recipient",
        "no-nul-character",
    ),
    (
        "nul-in-subprocessors-cell",
        csv_body("reference,name,subprocessors", 'R,n,"[{""subprocessor_id"": ""spr_\\u0000""}]"'),
        3,
        "subprocessors[0].subprocessor_id",
        "no-nul-character",
    ),
    (
        "lone-surrogate-in-transfers-cell",
        csv_body(
            "reference,name,transfers", 'R,n,"[{""country"": ""US"", ""recipient"": ""\\ud800""}]"'
        ),
        3,
        "transfers[0].recipient",
        "json-syntax",
    ),
    (
        "subprocessor-cell-not-objects",
        csv_body("reference,name,subprocessors", 'R,n,"[""spr_x""]"'),
        3,
        "subprocessors[0]",
        "object",
    ),
    (
        "field-over-csv-size-limit",
        csv_body("reference,name,transfers", "R," + "n" * 131_073 + ","),
        3,
        "name",
        "schema",
    ),
]


@pytest.mark.parametrize(
    ("content", "line", "field", "rule"),
    [case[1:] for case in CSV_CASES],
    ids=[case[0] for case in CSV_CASES],
)
async def test_malformed_csv_is_refused(api, tokens, content, line, field, rule):
    response = await post_import(api, tokens, content, "text/csv")
    await assert_refused(response, line, field, rule)


async def test_csv_cell_over_the_csv_modules_limit_is_read(api, tokens):
    """A legitimate cell may exceed csv's 131,072-character default (200 sub-processor links)."""
    padded = "[" + " " * 140_000 + "]"
    content = csv_body("reference,name,transfers", f"R-2,second entry,{padded}")
    response = await post_import(api, tokens, content, "text/csv")
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2
