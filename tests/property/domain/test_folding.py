"""Folding: an aggregate changed by any sequence of commands equals the one rebuilt from its
stored events, a rejected command stores nothing, and every status change recorded is a
transition its lifecycle (``domain/kernel/lifecycle.py``) allows."""

from __future__ import annotations

from functools import reduce
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.identity.commands import CreateTenant, RegisterUser, UpdateTenant, UpdateUser
from domain.kernel import lifecycle
from domain.kernel.base import PlatinumAggregate
from domain.kernel.errors import DomainError
from domain.platform import Platform
from domain.workflows.commands import CreateWorkflow, UpdateDefinition
from tests.support.doubles import CHEAP_HASHER, IN_MEMORY


def new_platform() -> Platform:
    return Platform(IN_MEMORY, password_hasher=CHEAP_HASHER)


def state(aggregate: PlatinumAggregate) -> dict[str, Any]:
    return {k: val for k, val in vars(aggregate).items() if k != "_pending_events"}


def assert_folds(app: Platform, aggregate: PlatinumAggregate, lc: lifecycle.Lifecycle) -> None:
    """The aggregate as commands left it equals its events folded from nothing, and each
    recorded status change follows the lifecycle."""
    events = list(app.events.get(aggregate.id))
    folded = reduce(lambda agg, event: event.mutate(agg), events, None)
    assert folded is not None
    assert state(folded) == state(aggregate) == state(app.repository.get(aggregate.id))
    status = lc.initial
    for event in events:
        if type(event).__name__ == "StatusChanged":
            target = event.status  # type: ignore[attr-defined]
            assert target in lc.transitions[status], (status, target)
            status = target
    assert status == aggregate.status  # type: ignore[attr-defined]


def run(app: Platform, command: Any) -> None:
    """Apply a command; a rejected one must store nothing at all."""
    before = app.recorder.max_notification_id()
    try:
        command()
    except DomainError:
        assert app.recorder.max_notification_id() == before


names = st.sampled_from(["Acme", "Acme Ltd", "A", "Beta Corp"])
json_objects = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 3), max_size=3)
tenant_statuses = st.sampled_from([*sorted(lifecycle.TENANT.statuses), "deleted"])
config_keys = st.sampled_from(["smtp.host", "theme", "bad key!"])

tenant_commands = st.one_of(
    st.tuples(
        st.just("update"), st.none() | names, st.none() | json_objects, st.none() | json_objects
    ),
    st.tuples(st.just("status"), tenant_statuses),
    st.tuples(st.just("set_config"), config_keys, st.integers(0, 2)),
    st.tuples(st.just("unset_config"), config_keys),
    st.tuples(st.just("revoke_sessions")),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(tenant_commands, max_size=15))
def test_a_tenant_folds_from_its_events_whatever_the_commands(
    actions: list[tuple[Any, ...]],
) -> None:
    app = new_platform()
    tenant_id = app.create_tenant(CreateTenant(name="Acme", slug="acme")).tenant.id

    def apply(action: tuple[Any, ...]) -> None:
        kind, *args = action
        if kind == "update":
            name, config, billing = args
            app.update_tenant(
                UpdateTenant(tenant_id, name=name, config=config, billing_info=billing)
            )
        elif kind == "status":
            app.update_tenant(UpdateTenant(tenant_id, status=args[0]))
        elif kind == "set_config":
            app.set_tenant_config(tenant_id, *args)
        elif kind == "unset_config":
            app.unset_tenant_config(tenant_id, args[0])
        else:
            tenant = app.get_tenant(tenant_id)
            tenant.revoke_sessions()
            app.save(tenant)

    for action in actions:
        run(app, lambda action=action: apply(action))
    assert_folds(app, app.get_tenant(tenant_id), lifecycle.TENANT)


user_commands = st.one_of(
    st.tuples(
        st.just("update"),
        st.none() | names,
        st.none() | st.sampled_from(["admin", "viewer", "root"]),
        st.none() | st.sampled_from([*sorted(lifecycle.USER.statuses), "gone"]),
    ),
    st.tuples(st.just("login")),
    st.tuples(st.just("stale"), st.integers(0, 3)),
)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["active", "invited"]), st.lists(user_commands, max_size=12))
def test_a_user_folds_from_its_events_whatever_the_commands(
    initial: str, actions: list[tuple[Any, ...]]
) -> None:
    app = new_platform()
    tenant_id = app.create_tenant(CreateTenant(name="Acme", slug="acme")).tenant.id
    password = None if initial == "invited" else "long enough passphrase"
    user = app.register_user(
        RegisterUser(tenant_id, "ann@acme.io", "Ann", password=password, status=initial)
    )
    users_lifecycle = lifecycle.Lifecycle("user", lifecycle.USER.transitions, initial)

    def apply(action: tuple[Any, ...]) -> None:
        kind, *args = action
        if kind == "update":
            name, role, status = args
            app.update_user(UpdateUser(tenant_id, user.id, name=name, role=role, status=status))
        elif kind == "login":
            app.record_login(tenant_id, user.id)
        else:  # an If-Match that may be stale
            app.update_user(
                UpdateUser(tenant_id, user.id, name="Renamed", expected_version=args[0])
            )

    for action in actions:
        run(app, lambda action=action: apply(action))
    assert_folds(app, app.get_user(tenant_id, user.id), users_lifecycle)


workflow_commands = st.one_of(
    st.tuples(st.sampled_from(["activate", "pause", "archive"])),
    st.tuples(st.just("rename"), names),
    st.tuples(st.just("define"), json_objects, st.none() | st.integers(1, 4)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(workflow_commands, max_size=15))
def test_a_workflow_folds_from_its_events_and_keeps_every_version(
    actions: list[tuple[Any, ...]],
) -> None:
    app = new_platform()
    tenant_id = app.create_tenant(CreateTenant(name="Acme", slug="acme")).tenant.id
    workflow_id: UUID = app.create_workflow(CreateWorkflow(tenant_id, "Flow", {"v": 1})).id
    definitions = [{"v": 1}]

    def apply(action: tuple[Any, ...]) -> None:
        kind, *args = action
        if kind == "rename":
            app.rename_workflow(tenant_id, workflow_id, args[0])
        elif kind == "define":
            definition, expected = args
            app.update_definition(
                UpdateDefinition(tenant_id, workflow_id, definition, expected_version=expected)
            )
            definitions.append(definition)
        else:
            getattr(app, f"{kind}_workflow")(tenant_id, workflow_id)

    for action in actions:
        run(app, lambda action=action: apply(action))
    workflow = app.get_workflow(tenant_id, workflow_id)
    assert_folds(app, workflow, lifecycle.WORKFLOW)
    assert [
        workflow.definition_at(n) for n in range(1, workflow.current_version + 1)
    ] == definitions
