"""Real servers for the notifications tests: an in-process SMTP server (aiosmtpd) and an HTTP
webhook receiver (stdlib ``http.server`` in a thread), both on free loopback ports, and fast
retry settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from gdpr_vault.settings import get_settings, set_settings
from tests.api.conftest import api, tokens  # noqa: F401


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CollectingHandler:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse_with: str | None = None

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse_with:
            return self.refuse_with
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Ok: queued as TEST42"


@pytest.fixture
def smtp_server() -> Iterator[CollectingHandler]:
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port  # type: ignore[attr-defined]
    try:
        yield handler
    finally:
        controller.stop()


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Independent Standard Webhooks verification (any v1 signature may match)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in headers["webhook-signature"].split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


@dataclass
class Receiver:
    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, then 200
    delay: float = 0.0
    overlaps: int = 0
    inflight: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self) -> list[str]:
        return [h["webhook-id"] for h, _ in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            msg_id = headers.get("webhook-id", "")
            with state.lock:
                if state.inflight[msg_id]:
                    state.overlaps += 1
                state.inflight[msg_id] += 1
            if state.delay:
                time.sleep(state.delay)
            with state.lock:
                state.inflight[msg_id] -= 1
                state.received.append((headers, body))
                status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fast_settings(smtp_server) -> Iterator[object]:
    """SMTP pointed at the test server, one-second backoff, three attempts, short leases."""
    before = get_settings()
    settings = replace(
        before,
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_security="none",
        smtp_from="Processor <notices@processor.example>",
        notify_max_attempts=3,
        notify_backoff_base_seconds=1.0,
        notify_backoff_max_seconds=4.0,
        notify_lease_seconds=30,
        notify_batch_size=50,
        webhook_timeout_seconds=5.0,
        smtp_timeout_seconds=5.0,
    )
    set_settings(settings)
    try:
        yield settings
    finally:
        set_settings(before)
