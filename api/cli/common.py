"""What every ``platinum`` command shares: settings, logging, one-line failures, the database."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from api.settings import Settings

if TYPE_CHECKING:
    from rich.progress import Progress

    from api.database import Database


def settings() -> Settings:
    return Settings()


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(value: Any) -> str:
    """``value`` as text a terminal only shows: control codes (ESC, BEL, C1, bidi overrides)
    escaped, so what a tenant stored (a name, a step's error) cannot drive the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", str(value))  # fmt: skip


def fail(message: str, code: int = 1) -> typer.Exit:
    """One line on stderr, non-zero exit."""
    typer.echo(f"error: {printable(message)}", err=True)
    return typer.Exit(code)


def stderr_progress() -> Progress:
    """Rich progress bars on stderr, drawn only when stderr is a terminal (never in a pipe,
    a file or a script's captured output). Log lines print above the bars, not through them."""
    import logging
    import sys

    from rich.console import Console
    from rich.progress import Progress

    class LoggedProgress(Progress):
        def __enter__(self) -> LoggedProgress:
            before = sys.stderr
            super().__enter__()  # the live display now stands in for sys.stderr (a proxy)
            self.moved = [
                (handler, handler.setStream(sys.stderr))
                for handler in logging.getLogger().handlers
                if type(handler) is logging.StreamHandler and handler.stream is before
            ]
            return self

        def __exit__(self, *exc: Any) -> None:
            for handler, stream in self.moved:
                handler.setStream(stream)
            super().__exit__(*exc)

    return LoggedProgress(console=Console(stderr=True), disable=not sys.stderr.isatty())


def configure_logging(level: str) -> None:
    from api.logs import configure_logging

    configure_logging(level)


def budget(settings: Settings, kind: str, parts: dict[str, int]) -> None:
    """Log (and print) this process's connection budget; over the bound: a one-line error."""
    from api.background import check_budget

    try:
        check_budget(settings, kind, parts)
    except ValueError as e:
        raise fail(str(e)) from None


def database(settings: Settings) -> Database:
    """The database's credentials, once this process is known to hold the deployment's key."""
    from api.database import admin_conninfo, database_for
    from api.database_setup import CipherKeyError, check_same_cipher_key

    db = database_for(settings, admin_conninfo(settings))
    try:
        check_same_cipher_key(db.system.conninfo, settings)
    except CipherKeyError as e:
        raise fail(str(e)) from None
    return db


def upgraded(settings: Settings) -> Database:
    """``upgrade`` for a command: a key that does not fit the events is one line, exit 1."""
    from api.composition import application_classes
    from api.database_setup import CipherKeyError, upgrade

    try:
        return upgrade(settings, application_classes())
    except CipherKeyError as e:
        raise fail(str(e)) from None


def long_running(settings: Settings, kind: str, parts: dict[str, int]) -> Database:
    """Set up a long-running process: logging, its connection budget, SIGTERM, the database."""
    from api.database import install_sigterm_exit

    configure_logging(settings.log_level)
    budget(settings, kind, parts)
    install_sigterm_exit()
    return upgraded_if_embedded(settings)


def until_interrupted(tick: Callable[[], None] | None = None) -> None:
    """Block until SIGINT (SIGTERM exits through ``install_sigterm_exit``), ticking each second."""
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1.0):
        if tick is not None:
            tick()


def upgraded_if_embedded(settings: Settings) -> Database:
    """The embedded server is this process's to start and upgrade; another is only checked."""
    return upgraded(settings) if settings.embedded else database(settings)
