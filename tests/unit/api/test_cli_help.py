"""The command line as a person meets it: clean help, a hint for a server that is not there,
a token kept where only its owner can read it."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from api.cli import remote
from api.cli.main import app
from tests.support.servers import free_port


def commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command's path, the top level first (typer's groups carry ``commands``)."""
    yield path
    for name, sub in getattr(group, "commands", {}).items():
        yield from commands(sub, (*path, name))


def test_every_help_text_is_clean() -> None:
    runner = CliRunner()
    seen = 0
    for path in commands(typer.main.get_command(app)):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        usage = next(line for line in result.output.splitlines() if "Usage:" in line)
        assert "{" not in usage, (path, usage)
        assert not re.search(r"<(bool|str|int|float|path|uuid)>", result.output), path
        assert "``" not in result.output, (path, "raw RST")
        assert ":class:" not in result.output, path
        seen += 1
    assert seen > 40


def test_an_unreachable_server_is_a_hint_not_a_traceback(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(app, ["runs", "list", "--url", url, "--token", "t"],
                                env={"PLATINUM_CONFIG_DIR": str(tmp_path)})  # fmt: skip
    assert result.exit_code == 1
    assert f"is `platinum serve` running at {url}?" in result.output
    assert "Traceback" not in result.output


def test_without_a_login_the_command_says_how_to_log_in(tmp_path: Path) -> None:
    env = {"PLATINUM_CONFIG_DIR": str(tmp_path), "PLATINUM_TOKEN": ""}
    result = CliRunner().invoke(app, ["workflows", "list", "--url", "http://127.0.0.1:1"], env=env)
    assert result.exit_code == 1
    assert "platinum login --url http://127.0.0.1:1" in result.output


def test_tokens_are_kept_per_server_in_a_file_only_its_owner_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLATINUM_CONFIG_DIR", str(tmp_path / "cfg"))
    remote.remember("http://a:8000/", "token-a")
    remote.remember("http://b:8000", "token-b")
    path = remote.credentials_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert remote.token_for("http://a:8000", None) == "token-a"
    assert remote.token_for("http://b:8000", None) == "token-b"
    assert remote.token_for("http://b:8000", "given") == "given"
    assert remote.server(None) == "http://b:8000"  # the last login's
    assert remote.forget("http://b:8000")
    assert remote.token_for("http://b:8000", None) is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_progress_is_drawn_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    from api.cli.common import stderr_progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert stderr_progress().disable
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert not stderr_progress().disable


def test_log_lines_print_above_the_progress_bars_not_through_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io
    import logging
    import sys

    from api.cli.common import stderr_progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    handler = logging.StreamHandler(sys.stderr)
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])
    with stderr_progress() as progress:
        # rich's live display owns the terminal: the log handler writes through its proxy
        assert handler.stream is sys.stderr
        assert handler.stream is not terminal
        progress.add_task("rebuild", total=1)
        logging.getLogger("test").warning("a warning while the bars are drawn")
    assert handler.stream is terminal
    assert "a warning while the bars are drawn" in terminal.getvalue()
