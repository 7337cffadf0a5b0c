"""Property (real PostgreSQL): whatever Unicode the domain's commands are given, each command
either refuses it (a DomainError, no event) or stores events that every projection applies:
nothing the domain accepts can stop a projection (issue 12: "one tenant's data can never stop
another's")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.kernel.errors import DomainError
from tests.integration.projections.conftest import (  # noqa: F401 (fixtures)
    Apps,
    apps,
    proj_db,
    proj_settings,
)

CHARS = st.one_of(
    st.characters(),  # any code point but surrogates
    st.characters(categories=["Cs"]),  # lone surrogates
    st.sampled_from("\x00\u00b2\u0663\u200b\ufeff\ufffd\U0001f600\\\"'%_"),
)
TEXTS = st.one_of(
    st.text(CHARS, max_size=30),
    st.sampled_from(["", " ", "\x00", "\ud800", "a\x00b", "x" * 300, "é" * 100_001]),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), TEXTS,
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3),
    max_leaves=8,
)
OBJECTS = st.dictionaries(TEXTS, JSON, max_size=4)


@dataclass
class World:
    tenant_id: UUID
    user_id: UUID
    skill_id: UUID
    runners: list[Any]


@pytest.fixture(scope="module")
def world(proj_settings: Any, proj_db: Any, apps: Apps) -> Iterator[World]:  # noqa: F811
    """A tenant, a user and a public skill; the platform's projections (on the system role,
    never parking: a failure is raised, so the property sees it)."""
    from api.background import projection_view
    from domain.identity.commands import CreateTenant, RegisterUser
    from domain.marketplace.commands import PublishSkill
    from projections.registry import PROJECTIONS
    from projections.runner import ProjectionRunner

    p = apps.platform
    tenant = p.create_tenant(CreateTenant(name="Unicode", slug="unicode-prop")).tenant
    user = p.register_user(RegisterUser(tenant_id=tenant.id, email="u@example.com", name="Uni",
                                        password="long enough pw", role="manager"))  # fmt: skip
    skill = p.publish_skill(PublishSkill(name="Uni skill", category="test", definition={}))
    p.approve_skill(skill.id)
    small = proj_settings.model_copy(update={"pool_size": 1, "pool_max_overflow": 1})
    runners = [
        ProjectionRunner(p, cls(), projection_view(small, proj_db.system, name), park_after=None)
        for name, (cls, app_names) in PROJECTIONS.items()
        if "platform" in app_names
    ]
    for r in runners:
        r.catch_up()
    yield World(tenant.id, user.id, skill.id, runners)
    for r in runners:
        r.view.datastore.close()


def _command(name: str, w: World, a: Any, b: Any, c: Any) -> Any:
    from domain.identity.commands import (
        CreateApiKey,
        CreateRole,
        CreateTenant,
        RegisterUser,
        SetPreference,
        UpdateTenant,
        UpdateUser,
    )
    from domain.marketplace.commands import InstallSkill, PublishSkill
    from domain.messaging.commands import RecordConversation, SendNotification
    from domain.workflows.commands import CreateWorkflow

    t, u = w.tenant_id, w.user_id
    return {
        "create_tenant": lambda p: p.create_tenant(
            CreateTenant(name=a, slug="s-" + str(abs(hash(a)) % 10**9), config=b,
                         billing_info=c)),
        "update_tenant": lambda p: p.update_tenant(UpdateTenant(t, name=a, config=b)),
        "set_tenant_config": lambda p: p.set_tenant_config(t, a, b),
        "register_user": lambda p: p.register_user(RegisterUser(
            tenant_id=t, email=f"{abs(hash(a))}@example.com", name=a, password=c)),
        "update_user": lambda p: p.update_user(UpdateUser(t, u, name=a)),
        "set_preference": lambda p: p.set_preference(SetPreference(t, u, key=a, value=b)),
        "create_api_key": lambda p: p.create_api_key(CreateApiKey(t, name=a)),
        "create_role": lambda p: p.create_role(CreateRole(name=a, permissions=[],
                                                          description=c)),
        "create_workflow": lambda p: p.create_workflow(CreateWorkflow(t, name=a,
                                                                      definition=b)),
        "publish_skill": lambda p: p.publish_skill(PublishSkill(
            name=a, category=c, definition=b, description=c, author=a)),
        "install_skill": lambda p: p.install_skill(InstallSkill(t, w.skill_id, config=b)),
        "send_notification": lambda p: p.send_notification(SendNotification(
            t, u, type=c, title=a, message=c, channel="email")),
        "record_conversation": lambda p: p.record_conversation(RecordConversation(
            t, u, session_id=a, input_text=c, output_text=a, context_data=b)),
    }[name]  # fmt: skip


COMMANDS = [
    "create_tenant", "update_tenant", "set_tenant_config", "register_user", "update_user",
    "set_preference", "create_api_key", "create_role", "create_workflow", "publish_skill",
    "install_skill", "send_notification", "record_conversation",
]  # fmt: skip


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(COMMANDS),
    a=TEXTS,
    b=st.one_of(OBJECTS, JSON),
    c=TEXTS,
)
def test_every_event_the_domain_accepts_every_projection_applies(
    world: World, apps: Apps, name: str, a: Any, b: Any, c: Any  # noqa: F811
) -> None:
    platform = apps.platform
    before = platform.recorder.max_notification_id() or 0
    try:
        _command(name, world, a, b, c)(platform)
    except DomainError:
        # refused: nothing stored
        assert (platform.recorder.max_notification_id() or 0) == before
        return
    for runner in world.runners:
        runner.catch_up()  # raises if an accepted event cannot be applied
        assert runner.position() == runner.head()


def test_no_projection_parked_or_stuck_after_the_property(proj_db: Any) -> None:  # noqa: F811
    with psycopg.connect(proj_db.owner.conninfo) as conn:
        failing = conn.execute(
            "SELECT count(*) FROM projection_failures WHERE projection IN"
            " ('readmodel', 'audit', 'outbox')"
        ).fetchone()
    assert failing == (0,)
