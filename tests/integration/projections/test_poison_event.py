"""A projection stuck on an event it cannot apply: it stops exactly there, says so, and goes on
once the event applies. Never skipped: the view must not silently disagree with the events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import Tracking

from domain.identity.commands import CreateTenant
from projections.runner import ProjectionRunner
from projections.status import projection_failures
from tests.integration.projections.conftest import Apps


class Poisoned:
    """Writes each event's position into ``poison_test_rows``; fails on ``poison`` until
    ``fixed``."""

    name = "poisontest"

    def __init__(self, poison: int) -> None:
        self.poison = poison
        self.fixed = False

    def apply(self, curs: Any, events: Sequence[tuple[Any, Tracking]]) -> None:
        for _, tracking in events:
            if tracking.notification_id == self.poison and not self.fixed:
                raise ValueError(f"poisoned at {tracking.notification_id}")
            curs.execute("INSERT INTO poison_test_rows VALUES (%s)", (tracking.notification_id,))

    def reset(self, curs: Any, application_name: str) -> bool:
        curs.execute("DELETE FROM poison_test_rows")
        return True


def _rows(conninfo: str) -> list[int]:
    with psycopg.connect(conninfo) as conn:
        return [r[0] for r in conn.execute("SELECT n FROM poison_test_rows ORDER BY n")]


def _failing(conninfo: str) -> list[dict[str, Any]]:
    with psycopg.connect(conninfo) as conn:
        return [f for f in projection_failures(conn) if f["projection"] == "poisontest"]


def run_until_it_fails(runner: ProjectionRunner) -> Exception:
    while True:
        try:
            if not runner.run_once():
                raise AssertionError("the projection reached the head without failing")
        except ValueError as exc:
            return exc


def test_a_poison_event_stops_its_projection_exactly_there_visibly(
    proj_settings: Any, proj_db: Any, apps: Apps
) -> None:
    from api.background import projection_view

    owner = proj_db.owner.conninfo
    with psycopg.connect(owner) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS poison_test_rows (n bigint PRIMARY KEY)")
    made = [apps.platform.create_tenant(CreateTenant(name=f"Poison {i}", slug=f"poison-{i}"))
            for i in range(3)]  # fmt: skip
    head = apps.platform.recorder.max_notification_id()
    # the second tenant's first event is the poison one
    stored = apps.platform.events.get(made[1].tenant.id, limit=1)
    first = next(iter(stored))
    stored_events = apps.platform.recorder.select_notifications(1, head or 1)
    ids = [n.id for n in stored_events]  # the sequence may have gaps (rolled-back saves)
    poison_id = next(n.id for n in stored_events
                     if n.originator_id == first.originator_id and n.originator_version == 1)

    projection = Poisoned(poison_id)
    small = proj_settings.model_copy(update={"pool_size": 1, "pool_max_overflow": 1})
    view = projection_view(small, proj_db.owner, "poisontest", create=True)
    runner = ProjectionRunner(apps.platform, projection, view, batch_size=50)
    try:
        assert "poisoned" in str(run_until_it_fails(runner))
        assert _failing(owner) == []  # a batch failed: which event is not known yet
        # one event at a time up to the poison one
        assert "poisoned" in str(run_until_it_fails(runner))
        before = [i for i in ids if i < poison_id]
        assert runner.position() == before[-1]
        assert _rows(owner) == before
        (stuck,) = _failing(owner)
        assert stuck["notification_id"] == poison_id
        assert stuck["topic"].endswith("Tenant.Created")
        assert "poisoned" in stuck["error"]
        assert stuck["attempts"] == 1
        with pytest.raises(ValueError):
            runner.run_once()  # retried: still there, counted
        assert _failing(owner)[0]["attempts"] == 2
        assert runner.position() == before[-1]

        # a fixed release: another process (a new runner, no memory of the failure) goes on
        projection.fixed = True
        restarted = ProjectionRunner(apps.platform, projection, view, batch_size=50)
        assert restarted.run_once() >= 1
        assert _failing(owner) == []  # cleared by the batch that got past the event
        restarted.catch_up()
        assert _rows(owner) == [n.id for n in apps.platform.recorder.select_notifications(
            1, restarted.head())]
    finally:
        view.datastore.close()
        with psycopg.connect(owner) as conn:  # leave the shared database as it was
            conn.execute("DROP TABLE poison_test_rows, poisontest_tracking")
            conn.execute("DELETE FROM projection_failures WHERE projection = 'poisontest'")
