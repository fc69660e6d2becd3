"""The DPO dashboard over HTTP: sign-in, scoping to DPO tokens, escaping, pages render."""

from __future__ import annotations

from tests.api.conftest import make_client


async def sign_in(api, token: str):
    return await api.post("/dashboard/login", data={"token": token})


async def test_pages_need_a_signed_in_dpo(api, tokens):
    anonymous = await api.get("/dashboard/")
    assert anonymous.status_code in (302, 303, 307)
    assert anonymous.headers["location"].endswith("/dashboard/login")
    refused = await sign_in(api, tokens.client_a)
    assert refused.status_code == 401 and "not a valid DPO token" in refused.text
    assert "gv_dashboard" not in refused.headers.get("set-cookie", "")


async def test_dpo_sees_overview_and_client_page(api, tokens):
    signed = await sign_in(api, tokens.dpo)
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    api.cookies.set("gv_dashboard", tokens.dpo, path="/dashboard")
    page = await api.get("/dashboard/")
    assert page.status_code == 200
    assert "Clinique des Tilleuls SAS" in page.text and "Hash chain intact" in page.text
    client_page = await api.get(f"/dashboard/clients/{tokens.client_a_id}")
    assert client_page.status_code == 200
    assert "breach notice" in client_page.text and "72 hours" in client_page.text


async def test_client_names_are_escaped(api, tokens):
    await make_client(api, tokens.dpo, legal_name="<script>alert(1)</script> SARL")
    api.cookies.set("gv_dashboard", tokens.dpo, path="/dashboard")
    page = await api.get("/dashboard/")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text


async def test_revoked_token_signs_the_browser_out(api, tokens):
    api.cookies.set("gv_dashboard", tokens.client_a, path="/dashboard")
    page = await api.get("/dashboard/")
    assert page.status_code in (302, 303, 307)


async def test_breach_clocks_show_on_screen_and_turn_red_when_overdue(api, tokens, clock):
    from datetime import timedelta

    from tests.breaches.conftest import facts_body

    dpo = {"Authorization": f"Bearer {tokens.dpo}"}
    clock.set(clock() + timedelta(days=30))  # the clinic's breach, aware 2026-03-28, is now late
    created = await api.post(
        "/api/v1/breaches",
        json=facts_body(aware_at="2026-03-28T22:30:00+01:00"),
        headers=dpo,
    )
    assert created.status_code == 201, created.text
    marked = await api.post(
        f"/api/v1/breaches/{created.json()['id']}/clients",
        json={"clients": [{"client_id": tokens.client_a_id}]},
        headers=dpo,
    )
    assert marked.status_code in (200, 201), marked.text
    api.cookies.set("gv_dashboard", tokens.dpo, path="/dashboard")
    page = await api.get("/dashboard/")
    section = page.text.split('id="panel-breaches"')[1].split("</section>")[0]
    assert "Clinique des Tilleuls SAS" in section
    assert 'class="late"' in section and " late" in section
    assert "2026-03-31 23:30" in section or "2026-03-31" in section


async def test_open_objection_windows_show_on_the_overview(api, tokens):
    from tests.subprocessors.conftest import bearer, create_sub, draft

    sub = await create_sub(api, tokens.dpo)
    created = await draft(
        api,
        tokens.dpo,
        kind="add",
        subprocessor_id=sub["id"],
        effective_date="2026-04-20",
        client_ids=[tokens.client_a_id],
    )
    assert created.status_code == 201, created.text
    change_id = created.json()["id"]
    published = await api.post(
        f"/api/v1/subprocessor-changes/{change_id}/publish", headers=bearer(tokens.dpo)
    )
    assert published.status_code == 200, published.text
    api.cookies.set("gv_dashboard", tokens.dpo, path="/dashboard")
    page = await api.get("/dashboard/")
    section = page.text.split('id="panel-objection-windows"')[1].split("</section>")[0]
    assert change_id in section and tokens.client_a_id in section and "notified" in section
    findings = page.text.split('id="panel-findings"')[1].split("</section>")[0]
    assert "No remediation is overdue." in findings
