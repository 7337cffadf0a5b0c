"""The projection loops' tenacity retries: a log line per failed attempt with a growing wait, and
a stop that no wait holds up (the database away; a batch that keeps failing)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from projections.group import ProjectorGroup
from projections.runner import ProjectionRunner
from tests.support.polling import wait_until


@pytest.fixture
def refused() -> Iterator[str]:
    """A loopback port bound but never listening: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        yield f"host=127.0.0.1 port={port} dbname=none user=none connect_timeout=1"


def test_the_group_reconnects_with_growing_waits_and_stops_at_once(
    refused: str, caplog: pytest.LogCaptureFixture
) -> None:
    group = ProjectorGroup([], refused)
    with caplog.at_level(logging.WARNING, logger="projections.group"):
        group.start()
        wait_until(lambda: len(caplog.records) >= 5, 10, interval=0.01, message="five attempts")
        stopping = time.monotonic()
        group.stop()
        took = time.monotonic() - stopping
    assert not group.running
    assert took < 0.5, f"stop took {took:.2f}s"
    waits = [r.getMessage().rsplit(" ", 1)[1] for r in caplog.records[:5]]
    assert waits == ["0.1s", "0.2s", "0.4s", "0.8s", "1.0s"]
    assert isinstance(group.error, psycopg.OperationalError)
    assert group.connected is False


class AwayView:
    """A projection view whose database is away."""

    def __init__(self) -> None:
        self.asked = 0

    def max_tracking_id(self, app_name: str) -> int:
        self.asked += 1
        raise psycopg.OperationalError("connection refused")


def test_a_failing_runner_retries_with_growing_waits_and_stops_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    view = AwayView()
    app: Any = SimpleNamespace(name="platform")
    projection: Any = SimpleNamespace(name="readmodel")
    runner = ProjectionRunner(app, projection, view, idle_wait_s=0.1)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="projections.runner"):
        runner.start()
        wait_until(lambda: view.asked >= 4, 10, interval=0.01, message="four attempts")
        stopping = time.monotonic()
        runner.stop()
        took = time.monotonic() - stopping
    assert not runner.running
    assert took < 0.5, f"stop took {took:.2f}s"
    waits = [r.getMessage().rsplit(" ", 1)[1] for r in caplog.records[:3]]
    assert waits == ["0.1s", "0.2s", "0.4s"]
    assert caplog.records[0].exc_info is not None  # with its traceback, as before
    assert isinstance(runner.error, psycopg.OperationalError)
