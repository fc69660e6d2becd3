"""Breach tests: the API fixtures, a real SMTP server (aiosmtpd), a real webhook receiver, and
helpers to create clients on presets and a breach."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from gdpr_vault.settings import Settings, get_settings, set_settings
from tests.api.conftest import api, tokens  # noqa: F401

AWARE = "2026-03-28T22:30:00+01:00"  # Paris, the night the clocks go forward


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.port = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Ok: queued"


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    box.port = controller.port
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Hooks:
    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def webhook_receiver() -> Iterator[Hooks]:
    state = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/breach-hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def mail_settings(smtp_server) -> Iterator[Settings]:
    before = get_settings()
    settings = replace(
        before,
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_security="none",
        smtp_from="Processor DPO <dpo@processor.example>",
        smtp_timeout_seconds=5.0,
        webhook_timeout_seconds=5.0,
    )
    set_settings(settings)
    try:
        yield settings
    finally:
        set_settings(before)


def client_body(preset: str, name: str, email: str, language: str = "fr") -> dict:
    return {
        "legal_name": name,
        "country": "FR",
        "language": language,
        "dpo": {"name": "DPO " + name, "email": "dpo@" + email.split("@")[1]},
        "contacts": [{"name": "Privacy desk", "email": email, "language": language}],
        "contract": {"reference": f"CTR-{preset}", "preset": preset, "start_date": "2026-01-01"},
    }


async def make_client(http, dpo: str, preset: str, name: str, email: str) -> str:
    response = await http.post(
        "/api/v1/clients",
        json=client_body(preset, name, email),
        headers={"Authorization": f"Bearer {dpo}"},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def facts_body(**changes: object) -> dict:
    body: dict = {
        "title": "Backup bucket exposed",
        "aware_at": AWARE,
        "occurred_at": "2026-03-28T20:05:00+01:00",
        "detection_method": "external security researcher report",
        "description": "An object-storage bucket holding nightly exports was publicly listable.",
        "origin": "internal_accidental",
        "nature": ["confidentiality"],
        "systems": ["backup-storage-eu-west"],
        "data_categories": ["identity", "contact details"],
        "subject_categories": ["employees of the client"],
        "data_subjects_approx": 1200,
        "records_approx": 5400,
        "measures_taken": ["bucket made private at 23:10", "access keys rotated"],
        "contact_point": {"name": "Processor DPO", "email": "dpo@processor.example"},
    }
    body.update(changes)
    return body
