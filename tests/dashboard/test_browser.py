"""The dashboard in a real headless Chromium: a DPO signs in and reads the overview."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from gdpr_vault.app import create_app
from gdpr_vault.settings import get_settings

pytestmark = pytest.mark.other_loop  # the live server runs its own loop in a thread


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server(tokens) -> Iterator[str]:
    """The app served on loopback by uvicorn, on the test database."""
    port = free_port()
    app = create_app(get_settings(), run_worker_in_process=False)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    binary = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    assert binary and driver_path, "make test installs Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def wait(browser: webdriver.Chrome) -> WebDriverWait:
    """Clicks return before the next page has loaded: wait for it, as a person would."""
    return WebDriverWait(browser, 20)


def test_dpo_signs_in_and_reads_the_overview(live_server, browser, tokens, tmp_path):
    browser.get(f"{live_server}/dashboard/")
    assert browser.current_url.endswith("/dashboard/login")
    browser.find_element(By.ID, "token").send_keys(tokens.dpo)
    browser.find_element(By.ID, "sign-in").click()
    wait(browser).until(ec.title_contains("Overview"))
    heading = browser.find_element(By.TAG_NAME, "h1").text
    assert heading == "Overview"
    clients = browser.find_element(By.ID, "panel-clients").text
    assert "Clinique des Tilleuls SAS" in clients and "Mutuelle Horizon Ouest" in clients
    assert "Hash chain intact" in browser.find_element(By.ID, "panel-evidence").text
    browser.find_element(By.LINK_TEXT, "Clinique des Tilleuls SAS").click()
    wait(browser).until(ec.url_contains("/dashboard/clients/"))
    wait(browser).until(ec.text_to_be_present_in_element((By.TAG_NAME, "main"), "72 hours"))
    shot = tmp_path / "overview.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 1000


def test_a_client_token_cannot_sign_in(live_server, browser, tokens):
    browser.get(f"{live_server}/dashboard/login")
    browser.find_element(By.ID, "token").send_keys(tokens.client_a)
    browser.find_element(By.ID, "sign-in").click()
    error = wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".error")))
    assert "not a valid DPO token" in error.text
