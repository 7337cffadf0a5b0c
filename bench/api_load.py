"""API: requests/s and latency of a live ``platinum serve`` under a bounded load on 127.0.0.1.

The bench starts the server (uvicorn, with its in-process projector, workers and dispatcher) on
a free port of 127.0.0.1 against the bench database, creates a tenant, logs in, creates and
activates a workflow, then drives ``concurrency`` clients through ``requests`` requests (or until
the time bound) per sample:

* ``healthz``: ``GET /healthz``, the framework's floor and the baseline of the ratios;
* ``workflow_create``: ``POST /v1/workflows`` (a validated event append + read-your-writes);
* ``run_start``: ``POST /v1/workflows/{id}/runs``, when the route exists.

Meanwhile a thread samples projector lag (events behind the head, ``projections.status``).
Load generator and server share the machine's two cores: the figures are for the pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    ADMIN_TOKEN,
    BenchEnv,
    Profile,
    figure,
    percentile,
    unavailable,
    with_ratio,
)

CONCURRENCY = 16
PASSWORD = "correct horse battery staple"
CHAIN = {
    "name": "bench-chain",
    "steps": [{"id": f"s{i}", "uses": "noop", **({"needs": [f"s{i - 1}"]} if i else {})}
              for i in range(3)],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def live_server(env: BenchEnv, settings: dict[str, str] | None = None) -> Iterator[str]:
    """``platinum serve`` on 127.0.0.1 against the bench database; stopped (SIGTERM) after.
    ``settings``: more of its environment (``PLATINUM_*`` variables)."""
    port = _free_port()
    platinum = Path(sys.executable).parent / "platinum"
    server_env = {**env.process_env(), **(settings or {})}
    log = env.data_dir / "serve.log"
    with open(log, "w") as logf:
        proc = subprocess.Popen([str(platinum), "serve", "--host", "127.0.0.1", "--port",
                                 str(port)], env=server_env, stdout=logf, stderr=logf)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"platinum serve exited: {log.read_text()[-800:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("platinum serve did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield base
    except Exception:
        print(f"[bench] serve.log tail:\n{log.read_text()[-3000:]}", file=sys.stderr)
        raise
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _setup(base: str) -> dict[str, Any]:
    """A tenant, its admin's session, an active workflow."""
    with httpx.Client(base_url=base, timeout=30) as c:
        r = c.post("/v1/tenants", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                   json={"name": "Bench", "slug": "bench-api", "admin_email": "ada@bench.io",
                         "admin_password": PASSWORD})
        r.raise_for_status()
        r = c.post("/v1/auth/login", json={"tenant": "bench-api", "email": "ada@bench.io",
                                            "password": PASSWORD})
        r.raise_for_status()
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        r = c.post("/v1/workflows", headers=auth, json={"name": "chain", "definition": CHAIN})
        r.raise_for_status()
        wf = r.json()["id"]
        c.post(f"/v1/workflows/{wf}/activate", headers=auth).raise_for_status()
        paths = c.get("/openapi.json").json().get("paths", {})
    return {"auth": auth, "workflow_id": wf, "paths": paths}


async def _load(base: str, method: str, path: Any, headers: dict[str, str], body: Any,
                requests: int, seconds: float) -> tuple[float, list[float], int, list[str]]:
    """``requests`` requests by CONCURRENCY clients, bounded by ``seconds``."""
    latencies: list[float] = []
    first_error: list[str] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits,
                                 timeout=30) as client:

        async def worker() -> None:
            nonlocal issued, errors
            while issued < requests and time.perf_counter() < deadline:
                issued += 1
                p = path(issued) if callable(path) else path
                b = body(issued) if callable(body) else body
                s = time.perf_counter()
                try:
                    r = await client.request(method, p, json=b)
                except httpx.HTTPError as exc:  # counted, and the load goes on
                    errors += 1
                    first_error.append(f"{type(exc).__name__}: {exc}")
                    continue
                if r.status_code < 300:
                    latencies.append((time.perf_counter() - s) * 1000)
                else:
                    errors += 1
                    first_error.append(f"HTTP {r.status_code}: {r.text[:200]}")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - t0
    return len(latencies) / elapsed, latencies, errors, first_error[:1]


class LagSampler:
    """Samples every projection's lag while the load runs."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import psycopg

        from projections.status import projection_lag

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self._stop.is_set():
                lag = projection_lag(conn)
                self.samples.append(max((v for apps in lag.values() for v in apps.values()),
                                        default=0))
                self._stop.wait(0.1)

    def __enter__(self) -> LagSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def drain_s(self, timeout: float = 30.0) -> float | None:
        """Seconds until every projection has caught up after the load."""
        import psycopg

        from projections.status import projection_lag

        t0 = time.perf_counter()
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while time.perf_counter() - t0 < timeout:
                lag = projection_lag(conn)
                if all(v == 0 for apps in lag.values() for v in apps.values()):
                    return time.perf_counter() - t0
                time.sleep(0.05)
        return None


def _measure(env: BenchEnv, base: str, profile: Profile, method: str, path: Any,
             headers: dict[str, str], body: Any) -> dict[str, Any]:
    rates, p50s, p99s, max_lag, drains, errors = [], [], [], [], [], 0
    error_examples: list[str] = []
    bound = 30.0 if profile.name == "full" else 10.0
    for _ in range(profile.repeats):
        with LagSampler(env.db.system.conninfo) as lag:
            rate, lat, errs, first = asyncio.run(
                _load(base, method, path, headers, body, profile.api_requests, bound))
        drain = lag.drain_s()
        if not lat:
            return {"status": "failed", "reason": f"every request failed: {first[:1]}",
                    "errors": errs}
        rates.append(rate)
        p50s.append(percentile(lat, 50))
        p99s.append(percentile(lat, 99))
        max_lag.append(float(max(lag.samples, default=0)))
        if drain is not None:
            drains.append(drain * 1000)
        errors += errs
        error_examples += first
    out = {
        "requests_per_s": figure(rates, "req/s", concurrency=CONCURRENCY),
        "p50_ms": figure(p50s, "ms"),
        "p99_ms": figure(p99s, "ms"),
        "projector_max_lag": figure(max_lag, "events"),
        "errors": errors,
        "requests": profile.api_requests * profile.repeats,
        "error_examples": error_examples[:2],
    }
    out["projector_drain_ms"] = (figure(drains, "ms") if drains
                                 else unavailable("projections did not catch up within 30 s"))
    return out


def run(env: BenchEnv, profile: Profile) -> dict[str, Any]:
    out: dict[str, Any] = {"concurrency": CONCURRENCY, "requests_per_sample": profile.api_requests}
    with live_server(env) as base:
        ctx = _setup(base)
        auth = ctx["auth"]
        health = _measure(env, base, profile, "GET", "/healthz", {}, None)
        out["healthz"] = health
        wf = _measure(env, base, profile, "POST", "/v1/workflows", auth,
                      lambda i: {"name": f"wf {i}", "definition": CHAIN})
        out["workflow_create"] = wf
        runs_path = "/v1/workflows/{workflow_id}/runs"
        if runs_path not in ctx["paths"]:
            out["run_start"] = unavailable(f"the API has no POST {runs_path} route yet")
        else:
            out["run_start"] = _measure(
                env, base, profile, "POST", f"/v1/workflows/{ctx['workflow_id']}/runs", auth,
                {"input": {}})
        for name in ("workflow_create", "run_start"):
            fig = out[name].get("requests_per_s")
            if fig:
                with_ratio(fig, health["requests_per_s"], "GET /healthz")
        with_ratio(health["requests_per_s"], health["requests_per_s"], "GET /healthz")
    return out
