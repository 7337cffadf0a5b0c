"""Events stored before a module moved keep loading: their old topics resolve to today's classes."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from domain.identity.tenants import Tenant
from domain.identity.users import User
from domain.platform import Platform
from domain.runs.run import Run
from domain.topics import MOVED_MODULES


@pytest.mark.parametrize(("old", "cls"), [
    ("domain.users:User.Registered", User.Registered),
    ("domain.tenants:Tenant", Tenant),
    ("domain.runs:Run", Run),
    ("domain.runs:Run.Created", Run.Created),
])  # fmt: skip
def test_an_old_topic_resolves_to_the_class_that_moved(old: str, cls: type) -> None:
    assert resolve_topic(old) is cls


def test_new_topics_still_resolve_when_the_new_module_name_starts_with_an_old_one() -> None:
    assert get_topic(Run.Created) == "domain.runs.run:Run.Created"
    assert resolve_topic(get_topic(Run.Created)) is Run.Created


def test_every_old_module_points_at_a_module_that_exists() -> None:
    for old, new in MOVED_MODULES.items():
        assert resolve_topic(f"{old}:__name__") == new


def test_an_event_stored_under_its_old_topic_is_read_back() -> None:
    app = Platform(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    tenant = Tenant(name="Acme", slug="acme", config={}, billing_info={})
    stored = app.mapper.to_stored_event(tenant.collect_events()[0])
    old = StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic.replace("domain.identity.tenants", "domain.tenants"),
        state=stored.state,
    )
    assert old.topic == "domain.tenants:Tenant.Created"
    event = app.mapper.to_domain_event(old)
    assert isinstance(event, Tenant.Created)
    assert event.originator_id == tenant.id
