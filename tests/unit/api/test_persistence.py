"""The event store factory: one shared, bounded, checked pool per role; no retries on requests.

No database is needed: pools are created closed and only opened on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import Environment

from api.database import ConnInfo
from api.persistence import FailFastApplicationRecorder, FailFastTaskRecorder, check_cheaply
from api.settings import Settings
from engine.runtime.task_store import TaskRecorder


def env_of(user: str = "platinum_system", *, fail_fast: bool = False) -> dict[str, str]:
    settings = Settings(database_url="postgresql://x@127.0.0.1:1/db", data_dir=Path("/nonexistent"),
                        cipher_key="")  # fmt: skip
    info = ConnInfo.from_url(f"postgresql://{user}@127.0.0.1:1/db")
    return info.eventsourcing_env(settings, fail_fast=fail_fast)


def factory(name: str, env: dict[str, str]) -> Any:
    return InfrastructureFactory.construct(env=Environment(name, env))


def test_applications_of_one_role_share_one_pool_until_the_last_closes() -> None:
    a, b = factory("Platform", env_of()), factory("Runs", env_of())
    other_role = factory("Platform", env_of("platinum_api"))
    try:
        assert a.datastore is b.datastore
        assert other_role.datastore is not a.datastore
        a.close()
        assert not a.datastore.is_closed  # b still uses it
        b.close()
        assert b.datastore.is_closed
        # a later application gets a new pool, not the closed one
        c = factory("Platform", env_of())
        assert c.datastore is not b.datastore
        c.close()
    finally:
        other_role.close()


def test_pools_are_bounded_checked_and_fail_fast() -> None:
    f = factory("Platform", env_of())
    try:
        pool = f.datastore.pool
        assert pool.max_size == Settings.model_fields["pool_size"].default + \
            Settings.model_fields["pool_max_overflow"].default  # fmt: skip
        assert pool.timeout == 1.0  # a request waits 1 s at most for a connection
        assert pool.reconnect_timeout == 1.0  # no back-off that outgrows the outage
        assert pool.kwargs["connect_timeout"] == 2
        assert f.datastore.pre_ping  # a connection a restart killed is never lent
        assert pool._check is check_cheaply  # ... seen without a round trip per checkout
    finally:
        f.close()


def test_the_request_path_has_no_library_retries() -> None:
    request_path = factory("Platform", env_of("platinum_api", fail_fast=True))
    background = factory("Platform", env_of())
    try:
        assert type(request_path).application_recorder_class is FailFastApplicationRecorder
        assert type(background).application_recorder_class is PostgresApplicationRecorder
    finally:
        request_path.close()
        background.close()
    # the library's methods are wrapped by @retry (functools.wraps); ours are not
    assert hasattr(PostgresApplicationRecorder.select_events, "__wrapped__")
    for name in ("select_events", "insert_events", "select_notifications", "max_notification_id"):
        assert not hasattr(getattr(FailFastApplicationRecorder, name), "__wrapped__"), name
    assert not hasattr(FailFastTaskRecorder.select_events, "__wrapped__")
    # the runs' recorder keeps the library's retries of a write; the request path drops them
    assert hasattr(TaskRecorder.insert_events, "__wrapped__")
    assert not hasattr(FailFastTaskRecorder.insert_events, "__wrapped__")
