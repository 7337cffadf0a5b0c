"""A local HTTP server for engine tests (127.0.0.1 only) that records every request, and the
environment of the worker processes the chaos tests start."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, str | None, float]] = []  # method, path, key, time
        self.seen: Counter[str] = Counter()
        self.headers: list[tuple[str, dict[str, str]]] = []  # path, the request's headers

    def headers_of(self, path: str) -> list[dict[str, str]]:
        """The headers of every request to ``path`` (names in lower case), in arrival order."""
        with self.lock:
            return [h for p, h in self.headers if p == path]

    def add(self, method: str, path: str, key: str | None) -> int:
        with self.lock:
            self.requests.append((method, path, key, time.time()))
            token = f"{path}|{key}"
            self.seen[token] += 1
            return self.seen[token]

    def path_count(self, path: str) -> int:
        with self.lock:
            return sum(1 for _, p, _, _ in self.requests if p == path)

    def times(self, key: str) -> list[float]:
        """When each call with this Idempotency-Key arrived (time.time())."""
        with self.lock:
            return [t for _, _, k, t in self.requests if k == key]

    def keys(self, prefix: str = "") -> Counter[str]:
        with self.lock:
            return Counter(k for _, p, k, _ in self.requests if k and p.startswith(prefix))


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null") if length else None
        key = self.headers.get("Idempotency-Key")
        n = self.server.recorder.add(self.command, url.path, key)
        with self.server.recorder.lock:
            self.server.recorder.headers.append(
                (url.path, {k.lower(): v for k, v in self.headers.items()})
            )
        if url.path == "/stop":
            # the first call of a key pauses the process `pid` (a worker holding the lease)
            # before the answer; later calls of the key take `s` seconds
            if n == 1 and query.get("pid"):
                os.kill(int(query["pid"]), signal.SIGSTOP)
            else:
                time.sleep(float(query.get("s", "0")))  # the server's own latency, as asked
            self._reply(200, {"n": n})
        elif url.path.startswith("/order/"):
            if query.get("flaky") and self.server.recorder.path_count(url.path) == 1:
                self._reply(503, {"error": "try again"})  # only the very first call
                return
            total = int(query.get("total", "500"))
            lines = [{"sku": f"sku-{i}"} for i in range(int(query.get("lines", "3")))]
            self._reply(200, {"id": url.path.rsplit("/", 1)[-1], "total": total, "lines": lines})
        elif url.path.startswith("/limited/"):
            # the first call answers `status` (429) with Retry-After `after` seconds, or an
            # HTTP date `after_date` seconds ahead; later calls succeed
            if self.server.recorder.path_count(url.path) == 1:
                if "after_date" in query:
                    when = formatdate(time.time() + float(query["after_date"]), usegmt=True)
                    headers = {"Retry-After": when}
                else:
                    headers = {"Retry-After": query.get("after", "1")}
                self._reply(int(query.get("status", "429")), {"error": "later"}, headers)
                return
            self._reply(200, {"ok": True})
        elif url.path == "/slow":
            time.sleep(float(query.get("s", "2")))  # a slow endpoint, as asked
            self._reply(200, {"slow": True})
        elif url.path == "/fail503":
            self._reply(503, {"error": "down"})
        elif url.path == "/unstorable":
            # JSON that parses but PostgreSQL's jsonb cannot store: NUL or a lone surrogate
            self._reply(
                200, {"ok": True, "a": ["fine", "\u0000" if query.get("v") == "nul" else "\ud800"]}
            )
        elif url.path == "/unstorable_text":
            # an error answer whose plain-text body holds a NUL byte
            data = b"bad\x00body"
            self.send_response(400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif url.path == "/bad":
            self._reply(404, {"error": "no"})
        else:
            self._reply(200, {"ok": True, "path": url.path, "got": body})

    do_GET = _handle  # noqa: N815
    do_POST = _handle  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    recorder: Recorder


class LocalServer:
    """``with LocalServer() as s: s.url("/x")``."""

    def __init__(self) -> None:
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.recorder = Recorder()
        self.recorder = self.httpd.recorder
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def worker_env(
    settings: Any, conninfo: str, data_dir: Path, pool: int, overflow: int
) -> dict[str, str]:
    """The environment of a ``platinum worker`` process on the database ``conninfo``, with its
    pool sizes; loopback egress allowed (its targets are local servers), as in every test."""
    return {
        **os.environ,
        "PLATINUM_DATABASE_URL": conninfo,
        "PLATINUM_CIPHER_KEY": settings.cipher_key or "",
        "PLATINUM_DATA_DIR": str(data_dir),
        "PLATINUM_LOG_LEVEL": "WARNING",
        "PLATINUM_POOL_SIZE": str(pool),
        "PLATINUM_POOL_MAX_OVERFLOW": str(overflow),
        "PLATINUM_READ_POOL_SIZE": "1",
        "PLATINUM_EGRESS_ALLOW": settings.egress_allow,
    }
