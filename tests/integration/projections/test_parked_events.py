"""One tenant's data never stops another's: an event a projection cannot apply is parked for
its aggregate (recorded, visible, retryable) and every other event flows on."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing import persistence
from eventsourcing.application import Application
from eventsourcing.persistence import Tracking

from domain.identity.commands import CreateTenant
from domain.workflows.commands import CreateWorkflow
from projections.runner import ProjectionRunner
from projections.status import projection_failures, projection_parked
from tests.integration.projections.conftest import Apps


class Unguarded:
    """Saves events as a buggy or older writer might: past the domain's storable-text net."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def save(self, *aggregates: Any) -> None:
        from eventsourcing.application import ProcessingEvent

        pe: ProcessingEvent[Any] = ProcessingEvent()
        pe.collect_events(*aggregates)
        Application._record(self.app, pe)


def _poison_workflow(apps: Apps, tenant_id: UUID) -> Any:
    """A workflow whose name holds NUL (PostgreSQL text cannot store it), then activated."""
    from domain.workflows.workflow import Workflow

    wf = Workflow(tenant_id=tenant_id, name="x\x00y", definition={"steps": [{"id": "a"}]},
                  created_by=None, created_at=datetime.now(UTC))  # fmt: skip
    wf.activate()
    Unguarded(apps.platform).save(wf)
    return wf


def _workflow(apps: Apps, tenant_id: UUID, name: str) -> Any:
    command = CreateWorkflow(
        tenant_id=tenant_id, name=name, definition={"steps": [{"id": "a"}]}, created_by=None
    )
    return apps.platform.create_workflow(command)


@pytest.fixture
def readmodel(proj_settings: Any, proj_db: Any, apps: Apps) -> Iterator[ProjectionRunner]:
    """The real read-model projection over the platform's events, caught up first."""
    from api.background import projection_view
    from projections.readmodel.projection import ReadModelProjection

    small = proj_settings.model_copy(update={"pool_size": 1, "pool_max_overflow": 1})
    view = projection_view(small, proj_db.system, "readmodel")
    runner = ProjectionRunner(apps.platform, ReadModelProjection(), view, batch_size=50)
    runner.catch_up()
    yield runner
    view.datastore.close()


def _workflow_names(conninfo: str, *ids: Any) -> dict[Any, str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT id, name FROM workflows WHERE id = ANY(%s)", (list(ids),))
        return {r[0]: r[1] for r in rows}


def test_an_event_the_read_model_cannot_store_is_parked_and_other_tenants_flow_on(
    proj_db: Any, apps: Apps, readmodel: ProjectionRunner
) -> None:
    owner = proj_db.owner.conninfo
    a = apps.platform.create_tenant(CreateTenant(name="Tenant A", slug="parked-a")).tenant
    b = apps.platform.create_tenant(CreateTenant(name="Tenant B", slug="parked-b")).tenant
    poison = _poison_workflow(apps, a.id)  # Created + StatusChanged, tenant A
    # tenant B writes after the poison, tenant A too (another aggregate)
    b_wf = _workflow(apps, b.id, "B flow")
    a_wf = _workflow(apps, a.id, "A flow")

    readmodel.catch_up()  # does not stop at the poison

    assert readmodel.position() == readmodel.head()
    assert _workflow_names(owner, poison.id, b_wf.id, a_wf.id) == {
        b_wf.id: "B flow", a_wf.id: "A flow"}  # fmt: skip
    with psycopg.connect(owner) as conn:
        parked = conn.execute(
            "SELECT originator_id, originator_version, tenant_id, error FROM projection_parked"
            " WHERE projection = 'readmodel' ORDER BY notification_id"
        ).fetchall()
        assert [(p[0], p[1], p[2]) for p in parked] == [
            (poison.id, 1, str(a.id)), (poison.id, 2, str(a.id))]  # fmt: skip
        assert "NUL" in parked[0][3]
        assert "earlier event of this aggregate is parked" in parked[1][3]
        # visible to operators: counted per projection, and no longer "stuck"
        (summary,) = [p for p in projection_parked(conn) if p["projection"] == "readmodel"]
        assert (summary["events"], summary["aggregates"], summary["tenants"]) == (2, 1, 1)
        assert [f for f in projection_failures(conn) if f["projection"] == "readmodel"] == []
        conn.execute("DELETE FROM projection_parked WHERE projection = 'readmodel'")


class Poisoned:
    """Writes ``(aggregate, version)`` rows; fails on ``poison``'s events until ``fixed``."""

    name = "parktest"

    def __init__(self, poison: Any) -> None:
        self.poison = poison
        self.fixed = False

    def apply(self, curs: Any, events: Sequence[tuple[Any, Tracking]]) -> None:
        for event, _ in events:
            if event.originator_id == self.poison and not self.fixed:
                raise ValueError(f"cannot apply {event.originator_id}")
            curs.execute("INSERT INTO park_test_rows VALUES (%s, %s)",
                         (event.originator_id, event.originator_version))  # fmt: skip

    def reset(self, curs: Any, application_name: str) -> bool:
        curs.execute("DELETE FROM park_test_rows")
        return True


def _rows(conninfo: str) -> set[tuple[Any, int]]:
    with psycopg.connect(conninfo) as conn:
        return {(r[0], r[1]) for r in conn.execute("SELECT id, v FROM park_test_rows")}


def test_a_parked_aggregate_is_applied_again_in_order_once_fixed_like_a_rebuild(
    proj_settings: Any, proj_db: Any, apps: Apps
) -> None:
    from api.background import projection_view
    from domain.workflows.workflow import Workflow

    owner = proj_db.owner.conninfo
    with psycopg.connect(owner) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS park_test_rows (id uuid, v int)")
    tenant = apps.platform.create_tenant(CreateTenant(name="Park C", slug="parked-c")).tenant
    bad = _workflow(apps, tenant.id, "Bad")
    apps.platform.activate_workflow(tenant.id, bad.id)
    good = _workflow(apps, tenant.id, "Good")
    projection = Poisoned(bad.id)
    small = proj_settings.model_copy(update={"pool_size": 1, "pool_max_overflow": 1})
    view = projection_view(small, proj_db.owner, "parktest", create=True)
    runner = ProjectionRunner(apps.platform, projection, view, batch_size=50, park_after=3)
    try:
        runner.catch_up()  # parks Bad's two events, applies everything else
        rows = _rows(owner)
        assert (good.id, 1) in rows
        assert not {r for r in rows if r[0] == bad.id}
        # retrying before the fix changes nothing and says so
        assert runner.retry_parked() == {"applied": 0, "still_parked": 2}
        # later events of the parked aggregate park behind it, and are not applied
        later: Workflow = apps.platform.get_workflow(tenant.id, bad.id)
        later.pause()
        apps.platform.save(later)
        runner.catch_up()
        assert not {r for r in _rows(owner) if r[0] == bad.id}

        projection.fixed = True  # the release that fixes the handler
        assert runner.retry_parked() == {"applied": 3, "still_parked": 0}
        retried = _rows(owner)
        # identical to a rebuild from zero
        runner.rebuild()
        assert _rows(owner) == retried
        assert {(bad.id, 1), (bad.id, 2), (bad.id, 3)} <= retried
        with psycopg.connect(owner) as conn:
            left = conn.execute(
                "SELECT count(*) FROM projection_parked WHERE projection = 'parktest'"
            ).fetchone()
            assert left == (0,)
    finally:
        view.datastore.close()
        with psycopg.connect(owner) as conn:
            conn.execute("DROP TABLE park_test_rows, parktest_tracking")
            conn.execute("DELETE FROM projection_failures WHERE projection = 'parktest'")
            conn.execute("DELETE FROM projection_parked WHERE projection = 'parktest'")


def test_an_error_that_is_not_the_events_fault_parks_nothing(
    proj_settings: Any, proj_db: Any, apps: Apps
) -> None:
    """A handler bug that hits every event (here: a missing table) must not park the whole
    stream: the projection stops and waits for the fix, as before."""
    from api.background import projection_view

    class Broken:
        name = "brokentest"

        def apply(self, curs: Any, events: Sequence[tuple[Any, Tracking]]) -> None:
            curs.execute("INSERT INTO no_such_table VALUES (1)")

        def reset(self, curs: Any, application_name: str) -> bool:
            return True

    apps.platform.create_tenant(CreateTenant(name="Broken D", slug="parked-d"))
    small = proj_settings.model_copy(update={"pool_size": 1, "pool_max_overflow": 1})
    view = projection_view(small, proj_db.owner, "brokentest", create=True)
    runner = ProjectionRunner(apps.platform, Broken(), view, batch_size=50, park_after=1)
    owner = proj_db.owner.conninfo
    try:
        for _ in range(4):
            with pytest.raises(persistence.ProgrammingError, match="no_such_table"):
                runner.run_once()
        assert runner.position() == 0
        with psycopg.connect(owner) as conn:
            assert conn.execute("SELECT count(*) FROM projection_parked WHERE"
                                " projection = 'brokentest'").fetchone() == (0,)  # fmt: skip
    finally:
        view.datastore.close()
        with psycopg.connect(owner) as conn:
            conn.execute("DROP TABLE brokentest_tracking")
            conn.execute("DELETE FROM projection_failures WHERE projection = 'brokentest'")


def test_the_cli_retries_parked_events(
    proj_settings: Any, proj_db: Any, apps: Apps, readmodel: ProjectionRunner, monkeypatch: Any
) -> None:
    from typer.testing import CliRunner

    from api.cli.main import app as cli

    owner = proj_db.owner.conninfo
    tenant = apps.platform.create_tenant(CreateTenant(name="Retry E", slug="parked-e")).tenant
    wf = _workflow(apps, tenant.id, "Parked then fixed")
    (created,) = [n for n in apps.platform.recorder.select_notifications(
        readmodel.position() + 1, 100) if n.originator_id == wf.id]  # fmt: skip
    # as if its data had failed earlier (the cause since fixed): parked, so catch-up skips it
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO projection_parked (projection, application, notification_id,"
            " originator_id, originator_version, topic, tenant_id, error) VALUES"
            " ('readmodel', 'platform', %s, %s, 1, %s, %s, 'DataError: was bad')",
            (created.id, wf.id, created.topic, str(tenant.id)),
        )
    readmodel.catch_up()
    assert _workflow_names(owner, wf.id) == {}

    monkeypatch.setenv("DATABASE_URL", proj_settings.database_url)
    monkeypatch.setenv("PLATINUM_CIPHER_KEY", proj_settings.cipher_key)
    result = CliRunner().invoke(cli, ["projections", "retry", "readmodel"])
    assert result.exit_code == 0, result.output
    assert "readmodel ← platform: applied 1, still parked 0" in result.output
    assert _workflow_names(owner, wf.id) == {wf.id: "Parked then fixed"}
