"""What the workflows, audit and admin page tests share: a ``page`` that fails on any error
the page logs, like the foundation's, except the error statuses a test says it expects (a
412 conflict page, a 404 for another tenant's id), and a ``csrf`` reader for forged posts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.browser.conftest import Live

FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


@dataclass
class Expected:
    """Error responses a test expects the page to receive: ``(status, url fragment)``."""

    statuses: list[tuple[int, str]] = field(default_factory=list)

    def allow(self, status: int, url_part: str) -> None:
        self.statuses.append((status, url_part))

    def allows(self, status: int, url: str) -> bool:
        return any(s == status and part in url for s, part in self.statuses)


@pytest.fixture
def expected() -> Expected:
    return Expected()


@pytest.fixture
def page(browser: Any, live: Live, expected: Expected) -> Iterator[Any]:
    """A fresh context and page; every error response, script error or CSP violation fails
    the test unless the test declared that response with ``expected.allow``."""
    context = browser.new_context(base_url=live.base, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    problems: list[str] = []
    failed: list[tuple[int, str]] = []
    tab.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None)
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    yield tab
    context.close()
    unexpected = [f"{s} {u}" for s, u in failed if not expected.allows(s, u)]
    allowed_codes = {s for s, u in failed if expected.allows(s, u)}
    logged = [
        p for p in problems
        if not ((m := FAILED_LOAD.match(p)) and int(m.group(1)) in allowed_codes)
    ]  # fmt: skip
    assert not unexpected, f"unexpected error responses: {unexpected}"
    assert not logged, f"the page logged errors: {logged}"


def csrf(page: Any) -> str:
    """The signed-in page's CSRF token (what a forged post would have to carry)."""
    value: str = page.locator("input[name=csrf_token]").first.input_value()
    return value
