"""Snapshots keep loading a long-lived aggregate bounded: one snapshot + fewer than 50 events.

Counts what the recorders return (never timings): a fresh Platform's events and snapshot
recorders are wrapped to record every ``select_events`` call and how many rows it returned.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
from eventsourcing.application import project_aggregate

from domain.identity.commands import CreateRole, SetUserRoles
from domain.identity.tenants import Tenant
from domain.platform import Platform
from tests.integration.domain.pg_support import (
    SNAPSHOTS_TABLE,
    MakePlatform,
    create_tenant,
    register,
)
from tests.support.doubles import FakeClock

CONFIG_CHANGES = 520  # Created + 520 ConfigSet = version 521; snapshots at 50, 100, ..., 500
INTERVAL = 50


@dataclass
class SelectSpy:
    """Wraps a recorder's ``select_events``: (kwargs, rows returned) of every call."""

    recorder: Any
    calls: list[tuple[dict[str, Any], list[int]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._select = self.recorder.select_events
        self.recorder.select_events = self

    def __call__(self, originator_id: Any, **kwargs: Any) -> Any:
        rows = self._select(originator_id, **kwargs)
        self.calls.append((kwargs, [r.originator_version for r in rows]))
        return rows


def test_tenant_interval_is_50() -> None:
    assert Platform.snapshotting_intervals[Tenant] == INTERVAL


def test_loading_a_tenant_with_521_events_reads_one_snapshot_and_21_events(
    app: Platform, make_platform: MakePlatform, owner_conn: psycopg.Connection[Any]
) -> None:
    tenant_id = create_tenant(app)
    for i in range(CONFIG_CHANGES):
        app.set_tenant_config(tenant_id, "counter", i)
    # every 50th version was snapshotted, by the API's role
    versions = [
        r[0]
        for r in owner_conn.execute(
            f"SELECT originator_version FROM {SNAPSHOTS_TABLE} WHERE originator_id = %s ORDER BY 1",
            (tenant_id,),
        )
    ]
    assert versions == list(range(INTERVAL, CONFIG_CHANGES + 1, INTERVAL))

    reader = make_platform()
    assert reader.snapshots is not None
    snapshot_reads = SelectSpy(reader.snapshots.recorder)
    event_reads = SelectSpy(reader.recorder)
    tenant = reader.get_tenant(tenant_id)

    assert (tenant.version, tenant.config) == (CONFIG_CHANGES + 1, {"counter": CONFIG_CHANGES - 1})
    # one snapshot: the latest
    ((kwargs, rows),) = snapshot_reads.calls
    assert (kwargs["desc"], kwargs["limit"], rows) == (True, 1, [500])
    # then only the events after it, in one query
    ((kwargs, rows),) = event_reads.calls
    assert kwargs["gt"] == 500
    assert rows == list(range(501, CONFIG_CHANGES + 2))
    assert len(rows) < INTERVAL


def test_the_events_read_stay_under_the_interval_as_history_grows(
    app: Platform, make_platform: MakePlatform
) -> None:
    tenant_id = create_tenant(app)
    reader = make_platform()
    assert reader.snapshots is not None
    event_reads = SelectSpy(reader.recorder)
    SelectSpy(reader.snapshots.recorder)
    read_per_load = []
    for i in range(3 * INTERVAL):
        app.set_tenant_config(tenant_id, "counter", i)
        if i % 10 == 0:
            reader.get_tenant(tenant_id)
            read_per_load.append(len(event_reads.calls[-1][1]))
    # versions 2, 12, ..., 142: the count restarts at each snapshot (50, 100) instead of growing
    assert read_per_load == [2, 12, 22, 32, 42] * 3
    assert max(read_per_load) < INTERVAL


def test_a_user_loaded_from_its_snapshot_equals_the_user_replayed_from_events(
    app: Platform, make_platform: MakePlatform, clock: FakeClock
) -> None:
    tenant_id = create_tenant(app)
    user = register(app, tenant_id)
    suffix = uuid.uuid4().hex[:8]
    role = app.create_role(CreateRole(name=f"Auditor {suffix}", permissions=["audit:read"]))
    admin_id = uuid.uuid4()
    app.set_user_roles(SetUserRoles(tenant_id, user.id, [role.id], assigned_by=admin_id))
    # Registered + RolesAssigned + 53 logins = version 55: snapshot at 50, 5 events after it
    for _ in range(53):
        clock.now += timedelta(minutes=1)
        app.record_login(tenant_id, user.id)

    reader = make_platform()
    assert reader.snapshots is not None
    event_reads = SelectSpy(reader.recorder)
    from_snapshot = reader.get_user(tenant_id, user.id)
    assert [rows for _, rows in event_reads.calls] == [[51, 52, 53, 54, 55]]
    replayed = project_aggregate(None, reader.events.get(user.id))  # every event, no snapshot
    assert vars(from_snapshot) == vars(replayed)
    assert (from_snapshot.version, from_snapshot.last_login) == (55, clock.now)
    assert from_snapshot.role_assignments == [
        {"role_id": role.id, "assigned_by": admin_id, "assigned_at": FakeClock.START}
    ]
