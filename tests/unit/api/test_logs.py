"""The log format: one JSON object per line with the same keys, whatever formats it."""

from __future__ import annotations

import io
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from api import logs


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose records go through the service's stderr handler into a buffer."""
    out = io.StringIO()
    handler = logs._stderr()
    handler.setStream(out)  # type: ignore[attr-defined]
    logger = logging.getLogger(f"platinum.test.{uuid.uuid4().hex}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, out
    logger.handlers[:] = []


def parsed(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_has_the_time_level_logger_message_and_extras(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = lines
    ident = uuid.uuid4()
    logger.warning("worker %s: %d leases lost", "w1", 3,
                   extra={"request_id": "req-7", "run": ident, "ms": 1.5})  # fmt: skip
    (line,) = parsed(out)
    assert list(line) == ["ts", "level", "logger", "msg", "request_id", "run", "ms"]
    assert line["level"] == "warning"
    assert line["logger"] == logger.name
    assert line["msg"] == "worker w1: 3 leases lost"
    assert (line["request_id"], line["run"], line["ms"]) == ("req-7", str(ident), 1.5)
    stamp = datetime.fromisoformat(str(line["ts"]))
    assert stamp.utcoffset() is not None
    assert stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert "T" in str(line["ts"])  # ISO 8601 as before, not str(datetime)


def test_an_exception_comes_last_as_its_traceback(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = lines
    try:
        raise ValueError("bad event")
    except ValueError:
        logger.exception("projection failed", extra={"attempts": 2})
    (line,) = parsed(out)
    assert list(line) == ["ts", "level", "logger", "msg", "attempts", "exc"]
    assert line["level"] == "error"
    assert str(line["exc"]).startswith("Traceback (most recent call last):")
    assert str(line["exc"]).endswith("ValueError: bad event")


def test_a_line_outside_a_request_has_no_request_id_and_one_line_per_record(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = lines
    logger.info("first\nsecond", extra={"path": Path("/x"), "raw": b"\x00"})
    (line,) = parsed(out)  # a newline in the message stays inside the JSON string
    assert "request_id" not in line
    assert line["msg"] == "first\nsecond"
    assert (line["path"], line["raw"]) == ("/x", "b'\\x00'")  # str() of what JSON cannot hold


def test_the_service_logs_json_lines_to_stderr() -> None:
    root = logging.getLogger()
    kept = (root.handlers[:], root.level)
    try:
        logs.configure_logging("debug")
        (handler,) = root.handlers
        assert isinstance(handler, logging.StreamHandler)
        assert handler.stream is sys.stderr
        assert isinstance(handler.formatter, logs.JsonFormatter)
        assert root.level == logging.DEBUG
    finally:
        root.handlers[:], level = kept
        root.setLevel(level)


def test_every_line_logged_during_a_request_carries_its_id(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    from asgi_correlation_id import correlation_id

    logger, out = lines
    token = correlation_id.set("req-9")  # what the request middleware sets (api.middleware)
    try:
        logger.warning("database unavailable on GET /v1/runs")
        logger.info("request", extra={"request_id": "req-9", "status": 200})
    finally:
        correlation_id.reset(token)
    logger.info("after the request")
    during, access, after = parsed(out)
    assert during["request_id"] == "req-9"
    assert list(access) == ["ts", "level", "logger", "msg", "request_id", "status"]
    assert "request_id" not in after
    assert "correlation_id" not in during


def test_the_start_log_file_is_json_lines_too(tmp_path: Path) -> None:
    handler = logs.log_file(tmp_path / "logs" / "serve.log")
    logger = logging.getLogger(f"platinum.test.{uuid.uuid4().hex}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    try:
        logger.error("could not bind")
    finally:
        handler.close()
    (line,) = [json.loads(x) for x in (tmp_path / "logs" / "serve.log").read_text().splitlines()]
    assert (line["level"], line["msg"]) == ("error", "could not bind")
