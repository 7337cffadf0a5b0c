"""The schedule ticker on PostgreSQL: two tickers start exactly one run per tick, a restarted
ticker catches up as its schedule says, and the overlap policies hold."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from api.background import start_ticker
from api.composition import Container
from api.ticker import Ticker
from projections.queries.schedules import active_schedules
from tests.api.test_runs import APPROVAL, QUICK, active_workflow
from tests.factories import TenantCtx, create_tenant, pause_active_schedules
from tests.support.polling import wait_until


@pytest.fixture(scope="module")
def tenant(client) -> TenantCtx:  # type: ignore[no-untyped-def]
    return create_tenant(client)


def schedule(client, tenant: TenantCtx, definition: dict[str, Any], **body: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    wf = active_workflow(client, tenant.admin_headers, definition)
    r = client.post(f"/v1/workflows/{wf}/schedules", json={"timezone": "UTC", **body},
                    headers=tenant.admin_headers)  # fmt: skip
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def fired(db, schedule_id: str) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """(tick, run id, status) of every run the read model has for this schedule."""
    with psycopg.connect(db.owner.conninfo) as conn:
        rows = conn.execute(
            "SELECT trigger->>'tick', id::text, status::text FROM runs"
            " WHERE trigger->>'id' = %s ORDER BY trigger->>'tick', id",
            (schedule_id,),
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def tick_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_two_tickers_start_exactly_one_run_per_tick_over_ten_ticks(
    client, container, settings, db, tenant
) -> None:
    s = schedule(client, tenant, QUICK, cron="* * * * * *", overlap="allow")
    others = [Container.build(settings, db, role=db.system) for _ in range(2)]
    try:
        tickers = [start_ticker(c) for c in others]  # separate pools and connections
        wait_until(lambda: (container.wait_caught_up("runs"), len(fired(db, s["id"])) >= 10)[1],
                   timeout=60, interval=0.5, message="ten ticks fired")  # fmt: skip
    finally:
        client.patch(f"/v1/schedules/{s['id']}", json={"status": "paused"},
                     headers=tenant.admin_headers)  # fmt: skip
        for c in others:
            c.close()
    container.wait_caught_up("runs")
    runs = fired(db, s["id"])
    ticks = [tick_time(t) for t, _, _ in runs]
    assert len(ticks) >= 10
    assert len(set(ticks)) == len(ticks), "a tick started two runs"
    first, last = min(ticks), max(ticks)
    every_second = {first + timedelta(seconds=n) for n in range(int((last - first).seconds) + 1)}
    assert set(ticks) == every_second, "a tick between the first and the last was lost"
    assert sum(t.started for t in tickers) == len(runs)


def _first_tick_after(since: str) -> datetime:
    at = datetime.fromisoformat(since).astimezone(UTC)
    return at.replace(second=0, microsecond=0) + timedelta(minutes=1)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _pass(container, db, clock: Clock, **kwargs: Any) -> Ticker:  # type: ignore[no-untyped-def]
    """One pass of a new ticker (a restarted process: it remembers nothing)."""
    ticker = Ticker(container.platform, container.runs, db.system.conninfo, clock=clock, **kwargs)
    with ticker.connect() as conn:
        ticker.tick_once(conn)
    container.wait_caught_up("runs")
    return ticker


@pytest.mark.parametrize(
    ("catchup", "expected_minutes"),
    [("none", [0]), ("last", [0, 10]), ("all", list(range(11)))],
)
def test_a_restarted_ticker_catches_up_as_configured(
    client, container, db, tenant, catchup, expected_minutes
) -> None:
    s = schedule(client, tenant, QUICK, cron="* * * * *", overlap="allow", catchup=catchup)
    base = _first_tick_after(s["active_since"])
    clock = Clock(base + timedelta(seconds=1))
    _pass(container, db, clock)
    assert [tick_time(t) for t, _, _ in fired(db, s["id"])] == [base]
    # the tickers are down for ten minutes; the latest missed tick is 30 s old when one is back
    clock.at = base + timedelta(minutes=10, seconds=30)
    _pass(container, db, clock)
    caught_up = fired(db, s["id"])
    _pass(container, db, clock)  # a second pass (and ticker) adds nothing
    assert fired(db, s["id"]) == caught_up
    ticks = [tick_time(t) for t, _, _ in caught_up]
    assert ticks == [base + timedelta(minutes=m) for m in expected_minutes]
    # and the next tick fires on time whatever the policy
    clock.at = base + timedelta(minutes=11, seconds=2)
    _pass(container, db, clock)
    assert tick_time(fired(db, s["id"])[-1][0]) == base + timedelta(minutes=11)


def test_catchup_all_is_bounded(client, container, db, tenant) -> None:
    s = schedule(client, tenant, QUICK, cron="* * * * *", overlap="allow", catchup="all")
    base = _first_tick_after(s["active_since"])
    clock = Clock(base + timedelta(minutes=30, seconds=5))
    _pass(container, db, clock, limit=5)
    ticks = [tick_time(t) for t, _, _ in fired(db, s["id"])]
    assert ticks == [base + timedelta(minutes=m) for m in range(26, 31)]


@pytest.mark.parametrize("overlap", ["skip", "allow", "cancel_previous"])
def test_overlap_policies(client, container, db, tenant, overlap) -> None:
    # the approval step keeps each run running until someone decides
    s = schedule(client, tenant, APPROVAL, cron="* * * * *", overlap=overlap,
                 input={"amount": 5})  # fmt: skip
    base = _first_tick_after(s["active_since"])
    clock = Clock(base + timedelta(seconds=1))
    ticker = Ticker(container.platform, container.runs, db.system.conninfo, clock=clock)
    with ticker.connect() as conn:
        ticker.tick_once(conn)
        container.wait_caught_up("runs")
        ((_, first_run, first_status),) = fired(db, s["id"])
        assert first_status == "running"
        clock.at = base + timedelta(minutes=1, seconds=1)
        ticker.tick_once(conn)
    container.wait_caught_up("runs")
    runs = fired(db, s["id"])
    statuses = {run_id: status for _, run_id, status in runs}
    if overlap == "skip":
        assert runs == [(runs[0][0], first_run, "running")]
    elif overlap == "allow":
        assert len(runs) == 2
        assert set(statuses.values()) == {"running"}
    else:
        assert len(runs) == 2
        assert statuses[first_run] == "cancelled"
        (second,) = [r for r in statuses if r != first_run]
        assert statuses[second] == "running"


def test_a_scheduled_run_says_which_tick_started_it(client, container, db, tenant) -> None:
    s = schedule(client, tenant, QUICK, cron="*/5 * * * * *")
    base = datetime.fromisoformat(s["next_fire_times"][0])
    clock = Clock(base + timedelta(milliseconds=300))
    _pass(container, db, clock)
    ((tick, run_id, _),) = fired(db, s["id"])
    run = client.get(f"/v1/runs/{run_id}", headers=tenant.admin_headers).json()
    assert run["trigger"] == {"kind": "schedule", "id": s["id"], "tick": tick}
    assert tick_time(tick) == base


def test_a_pause_the_read_model_has_not_seen_yet_fires_nothing(
    client, container, db, tenant
) -> None:
    from domain.triggers.commands import UpdateSchedule

    s = schedule(client, tenant, QUICK, cron="* * * * *", overlap="allow")
    clock = Clock(_first_tick_after(s["active_since"]) + timedelta(seconds=1))
    ticker = Ticker(container.platform, container.runs, db.system.conninfo, clock=clock)
    with ticker.connect() as conn:
        (stale,) = [row for row in active_schedules(conn) if str(row["id"]) == s["id"]]
        container.platform.update_schedule(UpdateSchedule(
            tenant_id=uuid.UUID(tenant.id), schedule_id=uuid.UUID(s["id"]),
            changes={"status": "paused"},
        ))  # fmt: skip
        ticker._schedule(conn, stale, ticker.clock())  # the row still says active
    container.wait_caught_up("runs")
    assert fired(db, s["id"]) == []


@pytest.fixture(autouse=True)
def _pause_this_modules_schedules(client, tenant, db):  # type: ignore[no-untyped-def]
    """After each test, pause the schedules it left active (later passes skip them)."""
    yield
    pause_active_schedules(client, tenant, db)


def _schedule_process(settings, tmp_path, name: str):  # type: ignore[no-untyped-def]
    """``platinum schedule`` in a process of its own on the session's database."""
    import os
    import subprocess
    import sys

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLATINUM_")},
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "DATABASE_URL": settings.database_url, "PLATINUM_DATA_DIR": str(tmp_path / name),
        "PLATINUM_ADMIN_TOKEN": settings.admin_token, "PLATINUM_CIPHER_KEY": settings.cipher_key,
        "PLATINUM_POOL_SIZE": "1", "PLATINUM_POOL_MAX_OVERFLOW": "2",
        "PLATINUM_READ_POOL_SIZE": "1", "PLATINUM_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    return subprocess.Popen(  # stopped by the test, by this handle only
        [sys.executable, "-c", "from api.cli.main import main; main()", "schedule"],
        env=env, stdout=(tmp_path / f"{name}.log").open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def _stop(proc) -> None:  # type: ignore[no-untyped-def]
    import signal
    import subprocess

    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_two_schedule_processes_one_run_per_tick_and_catch_up_after_a_stop(
    client, container, settings, db, tenant, tmp_path
) -> None:
    s = schedule(client, tenant, QUICK, cron="* * * * * *", overlap="allow", catchup="all")

    def count() -> int:
        container.wait_caught_up("runs")
        return len(fired(db, s["id"]))

    procs = [_schedule_process(settings, tmp_path, f"ticker-{i}") for i in range(2)]
    try:
        wait_until(lambda: count() >= 10, timeout=90, interval=0.5, message="ten ticks")
    finally:
        for p in procs:
            _stop(p)
    stopped_at = max(tick_time(t) for t, _, _ in fired(db, s["id"]))
    # both down for longer than the 10 s grace: `none` would skip those ticks, `all` fires them
    wait_until(lambda: datetime.now(UTC) > stopped_at + timedelta(seconds=13), timeout=40,
               interval=0.2, message="ticks without a ticker")  # fmt: skip
    again = _schedule_process(settings, tmp_path, "ticker-again")
    try:
        back = datetime.now(UTC)
        wait_until(lambda: count() and max(tick_time(t) for t, _, _ in fired(db, s["id"])) > back,
                   timeout=60, interval=0.5, message="a tick after the restart")  # fmt: skip
    finally:
        _stop(again)
        client.patch(f"/v1/schedules/{s['id']}", json={"status": "paused"},
                     headers=tenant.admin_headers)  # fmt: skip
    container.wait_caught_up("runs")
    ticks = [tick_time(t) for t, _, _ in fired(db, s["id"])]
    assert len(set(ticks)) == len(ticks), "a tick started two runs"
    first, last = min(ticks), max(ticks)
    every_second = {first + timedelta(seconds=n) for n in range(int((last - first).seconds) + 1)}
    assert set(ticks) == every_second, "a tick was lost, during the stop included"
