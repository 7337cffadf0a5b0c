"""`platinum serve` on the embedded PostgreSQL: killed by SIGKILL or SIGTERM, it leaves no orphan
server behind on the next start, and nothing it acknowledged is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.polling import wait_until
from tests.support.servers import free_port, wait_healthy

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent / "platinum"


def postgres_pids(pgdata: Path) -> list[int]:
    pids = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if any(part == str(pgdata) for part in cmd) and "postgres" in " ".join(cmd[:1]):
            pids.append(p.pid)
    return pids


class Serve:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLATINUM_")}
        env.pop("DATABASE_URL", None)
        env["PLATINUM_DATA_DIR"] = str(cwd / ".platinum")
        self.proc = subprocess.Popen(
            [str(BIN), "serve", "--port", str(self.port), "--no-worker"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        output = self.proc.stdout
        assert output is not None
        wait_healthy(self.proc, self.url, path="/readyz", log=lambda: output.read().decode())

    def token(self) -> str:
        return (self.cwd / ".platinum" / "admin-token").read_text().strip()

    def kill(self, sig: int) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)


def create_tenant(serve: Serve, slug: str) -> str:
    r = httpx.post(
        serve.url + "/v1/tenants",
        headers={"Authorization": f"Bearer {serve.token()}"},
        json={
            "name": "Acme",
            "slug": slug,
            "admin_email": "a@acme.io",
            "admin_password": "correct horse battery",
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_sigkill_then_restart_adopts_the_server_and_keeps_acknowledged_data(tmp_path: Path) -> None:
    pgdata = tmp_path / ".platinum" / "pgdata"
    first = Serve(tmp_path)
    tenant_id = create_tenant(first, "acme")
    first.kill(signal.SIGKILL)
    # The server outlives a SIGKILLed parent: that is the trap the next start must handle.
    assert postgres_pids(pgdata), "expected the embedded server to survive SIGKILL"

    second = Serve(tmp_path)
    got = httpx.get(
        f"{second.url}/v1/tenants/{tenant_id}",
        headers={"Authorization": f"Bearer {second.token()}"},
        timeout=10,
    )
    assert got.status_code == 200
    assert got.json()["slug"] == "acme"
    second.kill(signal.SIGTERM)
    assert second.proc.returncode == 0, "SIGTERM is a graceful stop"
    wait_until(lambda: not postgres_pids(pgdata), 10, message="the embedded server to stop")


def test_sigterm_stops_the_embedded_server(tmp_path: Path) -> None:
    pgdata = tmp_path / ".platinum" / "pgdata"
    serve = Serve(tmp_path)
    create_tenant(serve, "solo")
    serve.kill(signal.SIGTERM)
    assert serve.proc.returncode == 0, "SIGTERM is a graceful stop"
    wait_until(lambda: not postgres_pids(pgdata), 10, message="the embedded server to stop")
