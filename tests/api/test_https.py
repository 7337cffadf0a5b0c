"""HTTPS when given a certificate, and the security headers on every response: HSTS only over
TLS; nosniff, referrer policy, no framing and a strict CSP always."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tests.support.polling import wait_until
from tests.support.servers import free_port, stop, wait_healthy
from tests.tls import Pki, make_pki

EVERY_RESPONSE = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), "api")


@pytest.fixture(scope="module")
def https_base(container: Any, pki: Pki) -> Iterator[str]:
    """The API served by uvicorn with the TLS options ``platinum serve`` passes it."""
    import uvicorn

    from api.app import create_app

    settings = container.settings.model_copy(
        update={"tls_cert_file": pki.server_cert, "tls_key_file": pki.server_key}
    )
    port = free_port()
    config = uvicorn.Config(create_app(container), host="127.0.0.1", port=port,
                            log_level="warning", **settings.uvicorn_tls())  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def started() -> bool:
        assert thread.is_alive(), "uvicorn stopped"
        return bool(server.started)

    wait_until(started, 20, message="uvicorn to start")
    yield f"https://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _client(ca: Path) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=10)


def _assert_security_headers(headers: httpx.Headers) -> None:
    for name, value in EVERY_RESPONSE.items():
        assert headers.get(name) == value, name
    csp = headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'",
                      "object-src 'none'", "base-uri 'none'"):  # fmt: skip
        assert directive in csp
    assert "unsafe-inline" not in csp


@pytest.mark.parametrize("path", ["/healthz", "/v1/me", "/v1/no-such-route"])
def test_https_responses_carry_hsts_and_the_security_headers(
    https_base: str, pki: Pki, path: str
) -> None:
    with _client(pki.ca_cert) as client:
        response = client.get(https_base + path)
    assert response.status_code in (200, 401, 404)
    assert response.url.scheme == "https"
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    _assert_security_headers(response.headers)


def test_a_client_that_does_not_trust_the_ca_is_refused(https_base: str, tmp_path: Path) -> None:
    other = make_pki(tmp_path, "other")
    with _client(other.ca_cert) as client, pytest.raises(httpx.ConnectError):
        client.get(https_base + "/healthz")


def test_plain_http_gets_the_security_headers_but_no_hsts(client: Any) -> None:
    response = client.get("/healthz")
    assert "strict-transport-security" not in response.headers
    _assert_security_headers(response.headers)


def test_the_interactive_docs_get_a_policy_that_lets_them_load(client: Any) -> None:
    # served offline (api/docs.py): scripts from the service itself, no other origin
    response = client.get("/docs")
    assert response.status_code == 200
    assert "script-src 'self';" in response.headers["content-security-policy"]
    assert "http" not in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


def test_an_unexpected_error_still_carries_the_security_headers(container: Any) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(container)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/boom")
    assert response.status_code == 500
    _assert_security_headers(response.headers)


def test_a_certificate_without_its_key_is_a_configuration_error(tmp_path: Path) -> None:
    from api.settings import Settings

    with pytest.raises(ValidationError, match="PLATINUM_TLS_KEY_FILE"):
        Settings(tls_cert_file=tmp_path / "cert.pem")
    both = Settings(tls_cert_file=tmp_path / "c.pem", tls_key_file=tmp_path / "k.pem")
    assert both.uvicorn_tls() == {
        "ssl_certfile": str(tmp_path / "c.pem"), "ssl_keyfile": str(tmp_path / "k.pem"),
    }  # fmt: skip
    assert Settings().uvicorn_tls() == {}


def test_platinum_serve_speaks_https_when_given_a_certificate(
    pg_server: Any, pki: Pki, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import create_database, drop_database

    root = Path(__file__).resolve().parents[2]
    info = create_database(pg_server, prefix="platinum_https")
    port = free_port()
    env = {
        **os.environ, "DATABASE_URL": info.conninfo, "PLATINUM_DATA_DIR": str(tmp_path),
        "PLATINUM_TLS_CERT_FILE": str(pki.server_cert),
        "PLATINUM_TLS_KEY_FILE": str(pki.server_key), "PLATINUM_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--no-worker", "--no-projector"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        with _client(pki.ca_cert) as client:
            base = f"https://127.0.0.1:{port}"
            response = wait_healthy(proc, base, log=tmp_path / "serve.log", client=client)
        assert response.headers["strict-transport-security"] == "max-age=31536000"
        # and not plain HTTP on that port
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert f"https://127.0.0.1:{port}" in (tmp_path / "serve.log").read_text()
    finally:
        stop(proc)
        log.close()
        drop_database(pg_server, info)
