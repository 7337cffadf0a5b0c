"""Servers the tests start on 127.0.0.1: a free port, awaiting `/healthz`, stopping a process,
the app in a thread."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.polling import wait_until


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago (closed, so it refuses)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(
    proc: subprocess.Popen[bytes],
    base: str,
    *,
    path: str = "/healthz",
    log: Path | Callable[[], str] | None = None,
    client: httpx.Client | None = None,
    timeout: float = 60.0,
) -> httpx.Response:
    """``GET {base}{path}`` until it answers 200 and return that answer; fail at once, with the
    server's ``log`` (a file, or a function reading its output), if ``proc`` exits first."""
    http = client or httpx.Client(timeout=1)

    def exited() -> str:
        if log is None:
            return f"the server exited with {proc.returncode}"
        return log.read_text() if isinstance(log, Path) else log()

    def probe() -> httpx.Response | None:
        assert proc.poll() is None, exited()
        try:
            return http.get(f"{base}{path}")
        except httpx.TransportError:
            return None

    try:
        return wait_until(
            probe,
            timeout,
            until=lambda r: r is not None and r.status_code == 200,
            interval=0.1,
            message=f"{base}{path} to answer 200",
        )  # type: ignore[return-value]
    finally:
        if client is None:
            http.close()


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT, timeout: float = 20) -> None:
    """Ask ``proc`` (started by this test) to stop with ``sig``; kill it if it has not in time."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def served_in_thread(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a loopback port, in a thread of this process: its URL."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.config.port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(up, 30, message=f"uvicorn on {base}")
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
