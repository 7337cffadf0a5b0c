"""The ``platinum`` command line: what ``serve`` writes to the service's output."""

from __future__ import annotations

from typing import Any
from unittest.mock import Mock

import pytest
from typer.testing import CliRunner

import api.background
import api.composition
import api.database_setup
from api.cli.main import app


def test_serve_never_prints_the_admin_token(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    token = "admin-token-that-must-stay-off-the-log"
    monkeypatch.setenv("PLATINUM_ADMIN_TOKEN", token)
    monkeypatch.setenv("PLATINUM_DATA_DIR", str(tmp_path))
    # everything serve starts is replaced: only its output is under test
    monkeypatch.setattr(api.database_setup, "upgrade", lambda *_a, **_k: None)
    monkeypatch.setattr(api.composition.Container, "build", lambda *_a, **_k: None)
    monkeypatch.setattr(api.background, "start_background", lambda *_a, **_k: None)
    monkeypatch.setattr("api.app.create_app", lambda *_a, **_k: None)
    monkeypatch.setattr("api.database.install_sigterm_exit", lambda: None)
    monkeypatch.setattr("api.cli.serve._bind", lambda *_a: Mock())  # no socket of its own
    ran: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, **k: ran.append(k))
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    assert ran, "serve did not reach uvicorn"
    assert token not in result.output
    assert "platinum admin-token" in result.output
    shown = CliRunner().invoke(app, ["admin-token"])
    assert shown.output.strip().splitlines()[-1] == token
