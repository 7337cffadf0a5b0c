"""Connection encryption, end to end: a PostgreSQL of the test's own with ``ssl=on`` and a
certificate from a CA the test made; ``sslmode=verify-full`` through DATABASE_URL works for
every connection the service opens, and a server the CA did not sign is refused."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from api.database import ConnInfo
from tests.support.servers import free_port
from tests.tls import Pki, make_pki

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


@dataclass(frozen=True)
class TlsServer:
    port: int
    pki: Pki
    folder: Path

    def url(self, host: str = "localhost", ca: Path | None = None, **params: str) -> str:
        query = {"sslmode": "verify-full", "sslrootcert": str(ca or self.pki.ca_cert), **params}
        tail = "&".join(f"{k}={v}" for k, v in query.items())
        return f"postgresql://postgres@{host}:{self.port}/postgres?{tail}"


def _as_postgres(args: list[str]) -> None:
    """PostgreSQL refuses to run as root: run its tools as the ``postgres`` user then."""
    user = "postgres" if os.geteuid() == 0 else None
    subprocess.run(args, check=True, capture_output=True, user=user, timeout=60)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    if not BINARIES:
        pytest.skip("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
    bindir = Path(BINARIES[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="platinum-tls-"))  # not under pytest's 0700 root
    pki = make_pki(folder / "pki", "pg")
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        for path in (folder / "pki", *(folder / "pki").iterdir()):
            shutil.chown(path, "postgres")
    port = free_port()
    _as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--no-sync"])  # fmt: skip
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"port = {port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{folder}'\nmax_connections = 40\n"
            "fsync = off\nshared_buffers = 16MB\n"
            f"ssl = on\nssl_cert_file = '{pki.server_cert}'\nssl_key_file = '{pki.server_key}'\n"
        )
    # TCP only with TLS: a clear-text connection has no line to match
    (data / "pg_hba.conf").write_text("local all all trust\nhostssl all all 127.0.0.1/32 trust\n")
    _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w",
                  "-t", "60", "start"])  # fmt: skip
    try:
        yield TlsServer(port, pki, folder)
    finally:
        _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def _clean_libpq_environment() -> Iterator[None]:
    """admin_conninfo exports the URL's TLS parameters for the library's pools: without them
    before the test, and as they were after it (later tests connect to a server without TLS)."""
    names = ("PGSSLMODE", "PGSSLROOTCERT")
    saved = {name: os.environ.pop(name, None) for name in names}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _ssl_of_this_connection(conninfo: str) -> tuple[bool, str]:
    with psycopg.connect(conninfo, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return bool(row[0]), str(row[1])


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_verify_full_connects_to_the_server_our_ca_signed(tls_server: TlsServer, host: str) -> None:
    info = ConnInfo.from_url(tls_server.url(host))
    assert (info.sslmode, info.sslrootcert) == ("verify-full", str(tls_server.pki.ca_cert))
    ssl, version = _ssl_of_this_connection(info.conninfo)
    assert ssl
    assert version.startswith("TLS")


def test_a_server_certificate_from_another_ca_is_refused(
    tls_server: TlsServer, tmp_path: Path
) -> None:
    other = make_pki(tmp_path, "other")
    info = ConnInfo.from_url(tls_server.url(ca=other.ca_cert))
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(info.conninfo, connect_timeout=10)


def test_the_server_refuses_a_clear_text_connection(tls_server: TlsServer) -> None:
    info = ConnInfo.from_url(f"postgresql://postgres@127.0.0.1:{tls_server.port}/postgres"
                             "?sslmode=disable")  # fmt: skip
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(info.conninfo, connect_timeout=10)


def test_every_service_connection_is_verified_tls(tls_server: TlsServer, tmp_path: Path) -> None:
    """DATABASE_URL with verify-full: the upgrade, the library's pools (events) and the read
    pool all connect over TLS to the server the CA signed."""
    from api.composition import Container, application_classes
    from api.database_setup import upgrade
    from api.settings import Settings
    from domain.identity.commands import CreateTenant
    from tests.conftest import ADMIN_TOKEN

    with psycopg.connect(tls_server.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE platinum_tls")
    url = tls_server.url().replace("/postgres?", "/platinum_tls?")
    settings = Settings(database_url=url, data_dir=tmp_path, admin_token=ADMIN_TOKEN,
                        pool_size=1, pool_max_overflow=2, read_pool_size=2)  # fmt: skip
    db = upgrade(settings, application_classes())
    container = Container.build(settings, db)
    try:
        tenant = container.platform.create_tenant(CreateTenant(name="Over TLS", slug="tls-co"))
        assert container.platform.get_tenant(tenant.tenant.id).name == "Over TLS"
        with container.read_pool.connection() as conn:
            conn.execute("SELECT 1")
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT a.usename, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)"
                " WHERE a.datname = 'platinum_tls' AND a.backend_type = 'client backend'"
            ).fetchall()
    finally:
        container.close()
    users = {user for user, _ in rows}
    assert {"platinum_api", "platinum_system"} <= users  # read pool, events
    assert all(ssl for _, ssl in rows), rows


def test_no_tls_setting_outlives_the_tests_above() -> None:
    # the suite goes on with servers that have no TLS
    assert "PGSSLMODE" not in os.environ
    assert "PGSSLROOTCERT" not in os.environ
