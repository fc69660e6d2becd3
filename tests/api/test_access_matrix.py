"""Every route, every role, a foreign client id: 401/403/404, never data.

The route list is read from the application itself, so a route added later is covered
automatically and cannot slip through unguarded.
"""

from __future__ import annotations

import re
from datetime import timedelta

from gdpr_vault.app import create_app
from gdpr_vault.auth.service import issue_token
from gdpr_vault.settings import get_settings

PUBLIC = {"/api/v1/health", "/api/v1/keys", "/api/v1/receipts/{token:str}"}  # signed link
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def api_routes() -> list[tuple[str, str, object]]:
    app = create_app(get_settings(), run_worker_in_process=False)
    found = []
    for route in app.routes:
        if not route.path.startswith("/api/"):
            continue
        for method, entry in getattr(route, "route_handler_map", {}).items():
            handler = entry[0] if isinstance(entry, tuple) else entry
            if method in {"HEAD", "OPTIONS"}:
                continue
            found.append((route.path, method, handler))
    return found


def test_every_api_route_lives_under_api_v1():
    app = create_app(get_settings(), run_worker_in_process=False)
    for route in app.routes:
        assert route.path.startswith(("/api/v1/", "/schema", "/dashboard")), route.path


def fill(path: str, client_id: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "client_id":
            return client_id
        if name in {"version", "seq"}:
            return "1"
        return "xyz_00000000000000000000000000"

    return PARAM.sub(value, path)


async def call(api, method: str, path: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs = {"json": {}} if method in {"POST", "PUT", "PATCH"} else {}
    return await api.request(method, path, headers=headers, **kwargs)


async def test_no_token_is_401_everywhere_but_public_routes(api, tokens):
    for path, method, _ in api_routes():
        if path in PUBLIC:
            continue
        response = await call(api, method, fill(path, tokens.client_a_id), None)
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_other_clients_token_never_gets_data(api, tokens):
    for path, method, _ in api_routes():
        if path in PUBLIC:
            continue
        response = await call(api, method, fill(path, tokens.client_a_id), tokens.client_b)
        if "{client_id" in path:
            assert response.status_code in (403, 404), (method, path, response.status_code)
        else:
            assert response.status_code in (200, 403, 404), (method, path, response.status_code)
            if response.status_code == 200:
                assert tokens.client_a_id not in response.text, (method, path)


async def test_auditor_cannot_write_anywhere(api, tokens):
    for path, method, _ in api_routes():
        if method == "GET" or path in PUBLIC:
            continue
        response = await call(api, method, fill(path, tokens.client_a_id), tokens.auditor_a)
        assert response.status_code == 403, (method, path, response.status_code)


async def test_client_token_cannot_do_dpo_work(api, tokens):
    for path, method, handler in api_routes():
        guards = [getattr(g, "func", g).__name__ for g in handler.resolve_guards()]
        if "dpo_only" not in guards:
            continue
        response = await call(api, method, fill(path, tokens.client_a_id), tokens.client_a)
        assert response.status_code == 403, (method, path, response.status_code)


async def test_expired_and_revoked_tokens_stop_working(api, tokens, clock):
    now = clock()
    auditor = await issue_token(
        role="auditor",
        client_id=tokens.client_a_id,
        label="short",
        expires_at=now + timedelta(hours=1),
        actor="test",
        now=now,
    )
    headers = {"Authorization": f"Bearer {auditor['token']}"}
    ok = await api.get(f"/api/v1/clients/{tokens.client_a_id}", headers=headers)
    assert ok.status_code == 200
    clock.set(now + timedelta(hours=1, seconds=1))
    expired = await api.get(f"/api/v1/clients/{tokens.client_a_id}", headers=headers)
    assert expired.status_code == 401
    revoke = await api.delete(f"/api/v1/tokens/{auditor['id']}", headers=tokens.header(tokens.dpo))
    assert revoke.status_code == 200


async def test_client_list_is_scoped(api, tokens):
    mine = await api.get("/api/v1/clients", headers=tokens.header(tokens.client_a))
    assert [c["id"] for c in mine.json()["items"]] == [tokens.client_a_id]
    everyone = await api.get("/api/v1/clients", headers=tokens.header(tokens.dpo))
    assert {c["id"] for c in everyone.json()["items"]} == {tokens.client_a_id, tokens.client_b_id}
