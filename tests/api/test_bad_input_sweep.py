"""Every API route, a fixed battery of bad input: a 4xx problem+json, never a 500.

Routes are read from the application (as in the access matrix) and bodies and query
parameters from its own OpenAPI document, so a route or field added later is swept
automatically. Path parameters are filled with real ids of a small seeded world, so the bad
value under test reaches the handler and its service, not just the router. Each test runs the
whole battery and fails once, listing every offending request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gdpr_vault.evidence.tables import TrailEvent
from tests.api.conftest import Tokens
from tests.api.test_access_matrix import PARAM, api_routes

pytestmark = pytest.mark.uses_db

NAIVE = "2026-03-01T10:00:00"
# Instants and dates at the edges of Python's range: the first two have no UTC value at all.
EDGES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01", "9999-12-31"]
FAKE_ID = "xyz_00000000000000000000000000"
PROBLEM = "application/problem+json"

# Bad values sent in place of every body field (type confusion in both directions included).
FIELD_VALUES: list[Any] = [
    None,
    "",
    "../../etc/passwd",
    "\u0000\u0007\u001b[31m\u202e",
    "\u0007\u001b[31m\u202e\ufeff",
    NAIVE,
    *EDGES,
    "Mars/Olympus",
    "x" * 500,
    -1,
    10**30,
    1.5,
    True,
    [],
    [None],
    {},
    {"zz_unknown": "../../etc/passwd"},
]

# Whole bodies: (label, raw bytes). The raw bytes are sent with content-type application/json.
BODIES: list[tuple[str, bytes]] = [
    ("not-json", b"{"),
    ("empty", b""),
    ("list", b"[]"),
    ("string", b'"x"'),
    ("number", b"1"),
    ("null", b"null"),
    ("empty-object", b"{}"),
    ("unknown-field", b'{"zz_unknown": 1}'),
    ("deep", b'{"a":' * 2000 + b"1" + b"}" * 2000),
    ("deep-list", b"[" * 5000 + b"]" * 5000),
    ("control-chars", json.dumps({"\u0000": "\u0000\u202e"}).encode()),
    ("bad-utf8", b'{"x": "\xff\xfe"}'),
]

# Raw bodies a route reading CSV (the register import) meets: sent as text/csv.
CSV_BODIES: list[tuple[str, bytes]] = [
    ("csv-unterminated", b'reference,name\n"RT-1,unterminated'),
    ("csv-bad-utf8", b"reference,name\n\xff\xfe,\x00"),
    ("csv-header-only", b"reference,name\n"),
    ("csv-nul", b"reference,name\nRT-1,a\x00b\n"),
    ("json-nul", b'{"schema_version": "1", "activities": [{"reference": "a\\u0000b"}]}'),
    ("csv-ragged", b"reference,name\nRT-1,a,b,c,d\n,,,\n"),
    ("csv-deep-cell", b"reference,name,transfers\nRT-1,a," + b"[" * 5000 + b"]" * 5000 + b"\n"),
    ("csv-deep-subs", b"reference,name,subprocessors\nRT-1,a," + b"[" * 5000 + b"]" * 5000),
]

PATH_VALUES = [
    "x",
    "..%2F..%2Fetc%2Fpasswd",
    "%00",
    "a" * 500,
    "%E2%80%AE%C3%A9",
    "cli_0000000000000000000000000",  # one character short
    "-1",
    "99999999999999999999999999",
]

QUERY_VALUES = [
    "x",
    "",
    "-1",
    "0",
    "99999999999999999999999999",
    "1.5",
    NAIVE,
    *EDGES[:2],
    "Mars/Olympus",
    "../../etc/passwd",
    "\u0000",
    "\u0007\u202e",
    "a" * 500,
    "cli_00000000000000000000000000",
]

# Real values for path parameters that are not ids.
NAMED = {"action": "start", "clock": "objection_window", "key": "opensafe", "version": "1"}


def examples() -> dict[tuple[str, str], dict[str, Any]]:
    """Known-good bodies laid over the generated ones, so a spoiled field is the only fault."""
    from tests.api.conftest import CLIENT_BODY
    from tests.breaches.conftest import facts_body
    from tests.registers.conftest import entry_body
    from tests.subprocessors.conftest import SUB_BODY

    facts = facts_body(aware_at="2026-03-01T10:00:00+01:00", occurred_at="2026-03-01T08:00:00Z")
    return {
        ("POST", "/api/v1/clients"): CLIENT_BODY,
        ("POST", "/api/v1/subprocessors"): SUB_BODY,
        ("PATCH", "/api/v1/subprocessors/{subprocessor_id}"): {"contact": "a@b.example"},
        ("POST", "/api/v1/breaches"): facts,
        ("POST", "/api/v1/register/activities"): entry_body(reference="RT-SWEEP"),
        ("PUT", "/api/v1/register/activities/{activity_id}"): entry_body(),
        ("POST", "/api/v1/tokens"): {"role": "client", "client_id": None, "label": "sweep"},
        ("POST", "/api/v1/subprocessor-changes"): {"replaces_id": None},
        ("PUT", "/api/v1/clients/{client_id}/reversibility/sources"): {"tenant": None},
        ("POST", "/api/v1/clients/{client_id}/audits"): {
            "areas": ["security_measures"],
            "proposed_start": "2026-09-07T09:00:00+02:00",
            "proposed_end": "2026-09-08T18:00:00+02:00",
        },
        ("POST", "/api/v1/clients/{client_id}/audits/{audit_id}/findings"): {
            "due_at": "2026-12-01T10:00:00+01:00"
        },
    }


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _post(api: httpx.AsyncClient, dpo: str, url: str, body: dict) -> dict:
    response = await api.post(url, json=body, headers=h(dpo))
    return response.json() if response.status_code in (200, 201) else {}


@pytest.fixture
async def world(api, tokens: Tokens) -> dict[str, str]:
    """Real ids for path parameters, by parameter name (best effort: missing ones are faked)."""
    from tests.breaches.conftest import facts_body
    from tests.registers.conftest import entry_body
    from tests.subprocessors.conftest import SUB_BODY

    dpo, a = tokens.dpo, tokens.client_a_id
    ids: dict[str, str] = {"client_id": a}
    client = (await api.get(f"/api/v1/clients/{a}", headers=h(dpo))).json()
    ids["contract_id"] = client["contracts"][0]["id"]
    contact = await _post(
        api, dpo, f"/api/v1/clients/{a}/contacts", {"name": "DSI", "email": "dsi@x.example"}
    )
    ids["contact_id"] = contact.get("id", FAKE_ID)
    ids["token_id"] = (await api.get("/api/v1/me", headers=h(tokens.auditor_a))).json()["token_id"]
    sub = await _post(api, dpo, "/api/v1/subprocessors", SUB_BODY)
    ids["subprocessor_id"] = sub.get("id", FAKE_ID)
    change = await _post(
        api,
        dpo,
        "/api/v1/subprocessor-changes",
        {
            "kind": "add",
            "subprocessor_id": ids["subprocessor_id"],
            "effective_date": "2026-06-01",
            "client_ids": [a],
        },
    )
    ids["change_id"] = change.get("id", FAKE_ID)
    hook = await _post(
        api, dpo, f"/api/v1/clients/{a}/webhooks", {"url": "https://hooks.example/x"}
    )
    ids["endpoint_id"] = hook.get("id", FAKE_ID)
    notice = await _post(
        api,
        dpo,
        f"/api/v1/clients/{a}/notices",
        {"kind": "manual", "subject": "Hello", "body": "A notice."},
    )
    ids["notice_id"] = notice.get("id", FAKE_ID)
    breach = await _post(
        api,
        dpo,
        "/api/v1/breaches",
        facts_body(aware_at="2026-03-01T10:00:00+01:00", occurred_at="2026-03-01T08:00:00+01:00"),
    )
    ids["breach_id"] = breach.get("id", FAKE_ID)
    activity = await _post(api, dpo, "/api/v1/register/activities", entry_body())
    ids["activity_id"] = activity.get("activity_id", FAKE_ID)
    audit = await _post(
        api,
        dpo,
        f"/api/v1/clients/{a}/audits",
        {
            "contract_id": ids["contract_id"],
            "scope": "Security measures",
            "areas": ["security_measures"],
            "auditor": {"name": "J V", "email": "j@audit.example", "firm": "Audit"},
            "kind": "documentary",
            "proposed_start": "2026-04-06T09:00:00+02:00",
            "proposed_end": "2026-04-10T18:00:00+02:00",
        },
    )
    ids["audit_id"] = audit.get("id", FAKE_ID)
    case = await _post(
        api,
        dpo,
        "/api/v1/reversibility/cases",
        {
            "client_id": a,
            "trigger": "termination",
            "termination_notified_at": "2026-03-01T10:00:00Z",
        },
    )
    ids["case_id"] = case.get("id", FAKE_ID)
    return ids


def fill(path: str, ids: dict[str, str], bad: tuple[str, str] | None = None) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if bad and bad[0] == name:
            return bad[1]
        return NAMED.get(name) or ids.get(name, FAKE_ID)

    return PARAM.sub(value, path)


def openapi_path(path: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


class Schema:
    """Resolves the app's OpenAPI document into fields and plausible values."""

    def __init__(
        self, doc: dict[str, Any], ids: dict[str, str], freeform: dict[str, dict[str, Any]]
    ) -> None:
        self.doc = doc
        self.ids = ids
        # Free-form objects (``additionalProperties``) whose keys the service checks by hand.
        self.freeform = freeform

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        for key in ("oneOf", "anyOf"):
            if key in schema:
                options = [s for s in schema[key] if s.get("type") != "null"]
                if options:
                    merged = {k: v for k, v in schema.items() if k != key}
                    return self.resolve({**options[0], **merged})
        return schema

    def operation(self, path: str, method: str) -> dict[str, Any]:
        return self.doc["paths"].get(openapi_path(path), {}).get(method.lower(), {})

    def body_schema(self, path: str, method: str) -> dict[str, Any] | None:
        content = self.operation(path, method).get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        return self.resolve(schema) if schema else None

    def query(self, path: str, method: str) -> list[dict[str, Any]]:
        params = self.operation(path, method).get("parameters", [])
        return [p for p in params if p.get("in") == "query"]

    def required_query(self, path: str, method: str) -> dict[str, str]:
        """Plausible values for the required query parameters, so the one under test counts."""
        return {
            p["name"]: str(self.sample(p.get("schema", {}), p["name"]))
            for p in self.query(path, method)
            if p.get("required")
        }

    def sample(self, schema: dict[str, Any], name: str, depth: int = 0) -> Any:
        """A value that should pass the schema, so a mutation elsewhere reaches the service."""
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        enum = [v for v in schema.get("enum", []) if v is not None]
        if enum:
            return enum[0]
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        if kind == "object" or "properties" in schema:
            if depth > 3:
                return {}
            props = schema.get("properties", {})
            return {k: self.sample(v, k, depth + 1) for k, v in props.items()}
        if kind == "array":
            items = schema.get("items")
            count = max(1, schema.get("minItems", 1))
            if not items:
                return []
            return [self.sample(items, name, depth + 1) for _ in range(count)]
        if kind == "integer":
            return max(schema.get("minimum", 1), 1)
        if kind == "number":
            return 1.0
        if kind == "boolean":
            return False
        return self.sample_string(schema, name)

    def sample_string(self, schema: dict[str, Any], name: str) -> str:
        fmt = schema.get("format")
        if fmt == "date":
            return "2026-06-01"
        if fmt == "date-time" or name.endswith("_at") or name in {"as_of", "start"}:
            return "2026-03-01T10:00:00+01:00"
        key = name.removesuffix("s")
        if key in self.ids:
            return self.ids[key]
        if "email" in name or name == "contact":
            return "someone@example.org"
        if "countr" in name or "locations" in name:
            return "FR"
        if name == "time_zone":
            return "Europe/Paris"
        if name == "preset":
            return "opensafe"
        if "url" in name:
            return "https://example.org/x"
        text = "plausible_text"
        low, high = schema.get("minLength", 0), schema.get("maxLength", len(text))
        return (text * (1 + low // len(text)))[: max(low, min(high, len(text)))]

    def fields(self, schema: dict[str, Any], prefix: tuple[Any, ...] = ()) -> Iterator[tuple]:
        """Every field path in a body schema, nested objects and first list items included."""
        for key, sub in schema.get("properties", {}).items():
            path = (*prefix, key)
            yield path
            if len(path) > 3:
                continue
            sub = self.resolve(sub)
            if key in self.freeform and not prefix and "properties" not in sub:
                for inner, example in self.freeform[key].items():
                    yield (key, inner)
                    if isinstance(example, dict):
                        yield from ((key, inner, leaf) for leaf in example)
            if "properties" in sub:
                yield from self.fields(sub, path)
            items = sub.get("items")
            if sub.get("type") == "array" and items:
                items = self.resolve(items)
                if "properties" in items:
                    yield from self.fields(items, (*path, 0))


def with_value(
    body: Any, path: tuple[Any, ...], value: Any, freeform: dict[str, dict[str, Any]] | None = None
) -> Any:
    """``body`` with the field at ``path`` set to ``value`` (None if the body has no such spot)."""
    body = json.loads(json.dumps(body))
    target = body
    for depth, key in enumerate(path[:-1]):
        if isinstance(target, dict) and key not in target and freeform and depth == 1:
            target[key] = json.loads(json.dumps(freeform[path[0]][key]))  # a valid term to spoil
        missing = key >= len(target) if isinstance(target, list) else key not in target
        if missing:
            return None  # e.g. an example body's empty list: no item to spoil
        target = target[key]
        if not isinstance(target, dict | list):
            return None
    target[path[-1]] = value
    return body


def check(
    response: httpx.Response, label: str, failures: list[str], accepted: list[str] | None = None
) -> None:
    status = response.status_code
    where = f"{response.request.method} {response.request.url.raw_path.decode()[:160]} {label}"
    if status >= 500:
        failures.append(f"{where}: {status} {response.text[:200]}")
        return
    if status < 400:
        if accepted is not None:
            accepted.append(label)
        return
    if not response.headers.get("content-type", "").startswith(PROBLEM):
        failures.append(
            f"{where}: {status} not problem+json ({response.headers.get('content-type')})"
        )
        return
    body = response.json()
    if body.get("status") != status or not (body.get("title") or body.get("detail")):
        failures.append(f"{where}: {status} problem lacks status/title/detail: {body}")
    elif status in (400, 422) and not (body.get("field") and body.get("rule")):
        failures.append(f"{where}: {status} problem lacks field/rule: {body}")


def routes() -> list[tuple[str, str]]:
    return [(path, method) for path, method, _ in api_routes()]


def tokens_for(path: str, tokens: Tokens) -> list[tuple[str, str]]:
    found = [("dpo", tokens.dpo)]
    if "{client_id" in path:
        found.append(("client", tokens.client_a))
    return found


def report(failures: list[str], sent: int) -> None:
    assert not failures, f"{len(failures)} of {sent} requests misbehaved:\n" + "\n".join(failures)


@pytest.fixture
async def schema(api, tokens, world) -> Schema:
    doc = (await api.get("/schema/openapi.json")).json()
    terms: dict[str, Any] = {}
    for preset in (await api.get("/api/v1/presets", headers=h(tokens.dpo))).json():
        key = preset["key"] if isinstance(preset, dict) else preset
        found = (await api.get(f"/api/v1/presets/{key}", headers=h(tokens.dpo))).json()
        for name, value in found.get("terms", {}).items():
            terms.setdefault(name, value)
    assert terms, "the presets' terms drive the overrides sweep"
    facts = doc["components"]["schemas"]["BreachFactsIn"]["properties"]
    helper = Schema(doc, world, {})
    changes = {name: helper.sample(sub, name) for name, sub in facts.items()}
    return Schema(doc, world, {"overrides": terms, "changes": changes})


async def test_bad_bodies_are_refused_cleanly(api, tokens, world, schema):
    overlay = examples()
    failures: list[str] = []
    accepted: list[str] = []
    sent = 0
    for path, method in routes():
        if method not in {"POST", "PUT", "PATCH"}:
            continue
        url = fill(path, world)
        key = openapi_path(path)
        query = schema.required_query(path, method)
        for who, secret in tokens_for(path, tokens):
            events = await TrailEvent.count()
            ok_before = len(accepted)
            for kind, battery in (("application/json", BODIES), ("text/csv", CSV_BODIES)):
                headers = {**h(secret), "content-type": kind}
                for label, raw in battery:
                    response = await api.request(
                        method, url, content=raw, params=query, headers=headers
                    )
                    check(response, f"[{who}] body={label}", failures, accepted)
                    sent += 1
            body_schema = schema.body_schema(path, method)
            if body_schema and "properties" in body_schema:
                sent += await spoil_fields(
                    api,
                    schema,
                    (method, path, url, query),
                    base_of(schema, body_schema, overlay.get((method, key), {})),
                    (who, secret),
                    failures,
                    accepted,
                )
            if len(accepted) == ok_before and await TrailEvent.count() != events:
                failures.append(f"{method} {path} [{who}]: refused requests wrote trail events")
    report(failures, sent)


def base_of(schema: Schema, body_schema: dict[str, Any], overlay: dict[str, Any]) -> dict:
    return {**schema.sample(body_schema, "body"), **overlay}


async def spoil_fields(
    api: httpx.AsyncClient,
    schema: Schema,
    route: tuple[str, str, str, dict[str, str]],
    base: dict[str, Any],
    secret: tuple[str, str],
    failures: list[str],
    accepted: list[str],
) -> int:
    """One field at a time, every bad value, over an otherwise plausible body."""
    method, path, url, query = route
    who, headers = secret[0], h(secret[1])
    body_schema = schema.body_schema(path, method) or {}
    fields = list(schema.fields(body_schema))
    big = (with_value(base, fields[0], "x" * 1_000_000) if fields else None) or {"z": "x" * 10**6}
    response = await api.request(method, url, json=big, params=query, headers=headers)
    check(response, f"[{who}] body=1MB-string", failures, accepted)
    sent = 1
    for field in fields:
        for value in FIELD_VALUES:
            body = with_value(base, field, value, schema.freeform)
            if body is None:
                break
            response = await api.request(method, url, json=body, params=query, headers=headers)
            label = f"[{who}] {'.'.join(map(str, field))}={repr(value)[:40]}"
            check(response, label, failures, accepted)
            sent += 1
    return sent


async def test_bad_path_parameters_are_refused_cleanly(api, tokens, world):
    failures: list[str] = []
    sent = 0
    wrong_prefix = {"client_id": world["subprocessor_id"]}
    for path, method in routes():
        names = PARAM.findall(path)
        for name in names:
            values = [*PATH_VALUES, wrong_prefix.get(name, world["client_id"])]
            for value in values:
                url = fill(path, world, (name, value))
                kwargs: dict[str, Any] = {"json": {}} if method in {"POST", "PUT", "PATCH"} else {}
                for who, secret in tokens_for(path, tokens):
                    response = await api.request(method, url, headers=h(secret), **kwargs)
                    check(response, f"[{who}] {name}={value[:40]!r}", failures)
                    sent += 1
    report(failures, sent)


async def test_bad_query_parameters_are_refused_cleanly(api, tokens, world, schema):
    failures: list[str] = []
    sent = 0
    for path, method in routes():
        params = schema.query(path, method)
        if not params:
            continue
        url = fill(path, world)
        base = schema.required_query(path, method)
        kwargs: dict[str, Any] = {"json": {}} if method in {"POST", "PUT", "PATCH"} else {}
        for param in params:
            for value in QUERY_VALUES:
                query = {**base, param["name"]: value}
                for who, secret in tokens_for(path, tokens):
                    response = await api.request(
                        method, url, params=query, headers=h(secret), **kwargs
                    )
                    check(response, f"[{who}] ?{param['name']}={value[:40]!r}", failures)
                    sent += 1
    report(failures, sent)
