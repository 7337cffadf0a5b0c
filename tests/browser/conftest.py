"""Browser tests: a live ``platinum serve`` (API, worker, projector, dispatcher) on a fresh
database, on 127.0.0.1, driven by Debian's Chromium through Playwright for Python.

Without ``/usr/bin/chromium`` (or ``PLATINUM_CHROMIUM``) the browser tests are skipped with a
reason, except under ``CI=true``, where they fail: CI installs the browser (``.ci/run``).
Screenshots go to ``docs/console/`` only when ``PLATINUM_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, create_database, drop_database
from tests.factories import TenantCtx, UserCtx, create_tenant, create_users

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PLATINUM_CHROMIUM", "/usr/bin/chromium")
SHOTS = ROOT / "docs" / "console"


@dataclass
class Live:
    """The live service: its base URL and an HTTP client of the JSON API on it."""

    base: str
    api: httpx.Client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="package")
def live(pg_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """``platinum serve`` on a fresh database, up and answering ``/healthz``."""
    info = create_database(pg_server, prefix="platinum_browser")
    tmp = tmp_path_factory.mktemp("serve")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": info.conninfo,
        "PLATINUM_DATA_DIR": str(tmp / "data"),
        "PLATINUM_ADMIN_TOKEN": ADMIN_TOKEN,
        "PLATINUM_LOG_LEVEL": "WARNING",
        "PLATINUM_READ_POOL_SIZE": "4",
    }
    log_path = tmp / "serve.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "4"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    api = httpx.Client(base_url=base, timeout=30)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                if api.get("/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "platinum serve did not come up"
            time.sleep(0.2)  # startup poll, not an ordering of the test's steps
        yield Live(base, api)
    finally:
        api.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        drop_database(pg_server, info)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Chromium, headless. Missing: fail under CI=true, else skip with the reason."""
    if not Path(CHROMIUM).exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:  # the test extra is not installed
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"playwright is not installed: {e}")
        pytest.skip(f"playwright is not installed: {e}")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live: Live) -> Iterator[Any]:
    """A fresh browser context (its own cookies) and page on the live service; any error the
    page logs (a CSP violation, a script error) fails the test."""
    context = browser.new_context(base_url=live.base, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 500 else None
    )
    yield tab
    context.close()
    assert not problems, f"the page logged errors: {problems}"


@pytest.fixture(scope="package")
def tenant(live: Live) -> TenantCtx:
    return create_tenant(live.api)


@pytest.fixture(scope="package")
def users(live: Live, tenant: TenantCtx) -> dict[str, UserCtx]:
    return create_users(live.api, tenant)


def sign_in(page: Any, tenant: str, email: str, password: str) -> None:
    """Through the sign-in form, as a user would."""
    page.goto("/ui/login")
    page.get_by_test_id("login-tenant").fill(tenant)
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url("**/ui/runs")


def screenshot(page: Any, name: str) -> None:
    """A full-page PNG into docs/console/ when PLATINUM_SCREENSHOTS=1 (so CI leaves the tree
    clean)."""
    if os.environ.get("PLATINUM_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
