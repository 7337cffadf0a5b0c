"""Uniqueness under real concurrency: two Platforms (two pools, two connections), two threads.

Each round starts both commands together behind a ``threading.Barrier``. Uniqueness rests
on the database (a duplicate ``UniqueKey`` version 1 violates the primary key), so exactly
one command wins and the other gets the domain's ``ConflictError``, in every round.
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

import psycopg
import pytest

from domain.identity.commands import CreateTenant, SetPreference, UpdateTenant
from domain.kernel.errors import ConflictError, StaleVersionError
from domain.kernel.ids import email_key, index_id, installation_key, preference_id, slug_key
from domain.kernel.index import UniqueKey
from domain.marketplace.commands import InstallSkill, PublishSkill, UpdateInstallation
from domain.platform import Platform
from tests.integration.domain.pg_support import (
    EVENTS_TABLE,
    MakePlatform,
    create_tenant,
    register,
    unique_slug,
)
from tests.support.racing import Outcome, SaveSpy, race, spying

ROUNDS = 5


def refused_by_the_database(spies: list[SaveSpy], loser: int) -> None:
    """Both racers reached the database, and only the loser's save was refused there."""
    assert all(spy.attempted_ids for spy in spies)
    assert [spy.clashes for spy in spies] == [int(i == loser) for i in range(len(spies))]


Racers = tuple[Platform, Platform]


@pytest.fixture
def apps(make_platform: MakePlatform) -> Racers:
    """Two Platforms, each on a pool of its own, connected before any race starts."""
    a, b = make_platform(), make_platform()
    for app in (a, b):
        app.recorder.max_notification_id()  # open a connection now, not inside the race
    return a, b


@pytest.fixture
def reader(make_platform: MakePlatform) -> Platform:
    """A Platform with no aggregate cache: every read through it goes to the database."""
    return make_platform()


def approved_skill(app: Platform, name: str) -> Any:
    """A python skill published under ``name`` and approved: installable by any tenant."""
    implementation = {"kind": "python", "entry_point": "echo"}
    skill = app.publish_skill(
        PublishSkill(name=name, category="utility", definition={"implementation": implementation})
    )
    app.approve_skill(skill.id)
    return skill


def rows_of(conn: psycopg.Connection[Any], ids: list[uuid.UUID]) -> int:
    row = conn.execute(
        f"SELECT count(*) FROM {EVENTS_TABLE} WHERE originator_id = ANY(%s)", (ids,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def winner_and_loser(outcomes: list[Outcome]) -> tuple[int, int]:
    """Indexes of the one success and the one ConflictError, asserting that is what happened."""
    ok = [i for i, o in enumerate(outcomes) if o.error is None]
    conflicts = [i for i, o in enumerate(outcomes) if isinstance(o.error, ConflictError)]
    assert (len(ok), len(conflicts)) == (1, 1), [o.error for o in outcomes]
    return ok[0], conflicts[0]


def test_concurrent_creates_of_one_slug_let_exactly_one_tenant_win(
    apps: Racers, reader: Platform, owner_conn: psycopg.Connection[Any]
) -> None:
    for _ in range(ROUNDS):
        slug = unique_slug()
        with spying(apps) as spies:
            outcomes = race(
                *(
                    partial(app.create_tenant, CreateTenant(name=f"Racer {i}", slug=slug))
                    for i, app in enumerate(apps)
                )
            )
        won, lost = winner_and_loser(outcomes)
        refused_by_the_database(spies, lost)
        assert slug in str(outcomes[lost].error)
        assert not isinstance(outcomes[lost].error, StaleVersionError)
        # the database holds the winner's tenant under the slug, and nothing of the loser's
        winner = outcomes[won].value.tenant
        got = reader.get_tenant_by_slug(slug)
        assert (got.id, got.name) == (winner.id, f"Racer {won}")
        loser_tenant_id = spies[lost].attempted_ids[0]
        assert loser_tenant_id != winner.id
        assert rows_of(owner_conn, [loser_tenant_id]) == 0
        assert rows_of(owner_conn, [index_id(slug_key(slug))]) == 1


def test_concurrent_registrations_of_one_email_let_exactly_one_user_win(
    apps: Racers, reader: Platform, owner_conn: psycopg.Connection[Any]
) -> None:
    tenant_id = create_tenant(apps[0])
    for n in range(ROUNDS):
        local = f"ann-{n}-{uuid.uuid4().hex[:8]}"
        # the same address in two spellings: uniqueness is case-insensitive
        emails = [f"{local}@acme.io", f"{local.upper()}@ACME.io"]
        with spying(apps) as spies:
            outcomes = race(
                *(
                    partial(register, app, tenant_id, email=email)
                    for app, email in zip(apps, emails, strict=True)
                )
            )
        won, lost = winner_and_loser(outcomes)
        refused_by_the_database(spies, lost)
        assert emails[0] in str(outcomes[lost].error)
        winner = outcomes[won].value
        found = reader.find_user_by_email(tenant_id, emails[lost])
        assert found is not None
        assert found.id == winner.id
        loser_user_id = spies[lost].attempted_ids[0]
        assert rows_of(owner_conn, [loser_user_id]) == 0
        assert rows_of(owner_conn, [index_id(email_key(tenant_id, emails[0]))]) == 1


def test_concurrent_updates_of_one_tenant_lose_no_write(
    apps: Racers, reader: Platform, owner_conn: psycopg.Connection[Any]
) -> None:
    tenant_id = create_tenant(apps[0])
    for n in range(ROUNDS):
        names = [f"Name {n}-a", f"Name {n}-b"]
        # both load version v before either saves v+1: the second save must be refused
        with spying(apps, gated=True) as spies:
            outcomes = race(
                *(
                    partial(app.update_tenant, UpdateTenant(tenant_id=tenant_id, name=name))
                    for app, name in zip(apps, names, strict=True)
                )
            )
        won, lost = winner_and_loser(outcomes)
        refused_by_the_database(spies, lost)
        assert not isinstance(outcomes[lost].error, StaleVersionError)  # no If-Match: 409
        got = reader.get_tenant(tenant_id)
        assert (got.name, got.version) == (names[won], n + 2)
    assert rows_of(owner_conn, [tenant_id]) == ROUNDS + 1


def test_concurrent_updates_with_one_etag_lose_with_stale_version_at_the_save(
    apps: Racers,
) -> None:
    """Both racers pass the If-Match check on load; the loser's save is refused by the
    database. That is a failed precondition (412), not a plain conflict (409)."""
    tenant_id = create_tenant(apps[0])
    for n in range(ROUNDS):
        version = apps[0].get_tenant(tenant_id).version
        names = [f"Etag {n}-a", f"Etag {n}-b"]
        with spying(apps, gated=True) as spies:
            outcomes = race(
                *(
                    partial(app.update_tenant, UpdateTenant(
                        tenant_id=tenant_id, name=name, expected_version=version))
                    for app, name in zip(apps, names, strict=True)
                )
            )  # fmt: skip
        _won, lost = winner_and_loser(outcomes)
        refused_by_the_database(spies, lost)
        error = outcomes[lost].error
        assert isinstance(error, StaleVersionError), error
        assert (error.expected, error.actual) == (version, version + 1)


def test_concurrent_installation_changes_with_one_etag_lose_with_stale_version(
    apps: Racers,
) -> None:
    skill = approved_skill(apps[0], "Etag")
    for _ in range(ROUNDS):
        tenant_id = create_tenant(apps[0])
        installed = apps[0].install_skill(InstallSkill(tenant_id, skill.id))
        change = UpdateInstallation(
            tenant_id=tenant_id,
            installation_id=installed.id,
            status="disabled",
            expected_version=installed.version,
        )
        with spying(apps, gated=True) as spies:
            outcomes = race(*(partial(app.update_installation, change) for app in apps))
        _won, lost = winner_and_loser(outcomes)
        refused_by_the_database(spies, lost)
        assert isinstance(outcomes[lost].error, StaleVersionError), outcomes[lost].error


def test_concurrent_first_writes_of_one_preference_key_let_exactly_one_win(
    apps: Racers, reader: Platform, owner_conn: psycopg.Connection[Any]
) -> None:
    """Both racers find no preference and try to create it: one wins, the other gets a
    ConflictError, and the key's aggregate holds exactly the winner's ``Set``."""
    tenant_id = create_tenant(apps[0])
    user = register(apps[0], tenant_id)
    for n in range(ROUNDS):
        key = f"theme-{n}"
        values = ["dark", "light"]
        # both find no preference before either saves: both try to create it
        with spying(apps, gated=True) as spies:
            outcomes = race(
                *(
                    partial(app.set_preference, SetPreference(tenant_id, user.id, key, value))
                    for app, value in zip(apps, values, strict=True)
                )
            )
        won, lost = winner_and_loser(outcomes)
        refused_by_the_database(spies, lost)
        events = reader.events.get(preference_id(user.id, key))
        assert [(type(e).__name__, e.value) for e in events] == [  # type: ignore[attr-defined]
            ("Set", values[won]),
        ]
        assert reader.get_preference(tenant_id, user.id, key).value == values[won]
        assert rows_of(owner_conn, [preference_id(user.id, key)]) == 1


def test_concurrent_installs_of_one_skill_in_one_tenant_let_exactly_one_win(
    apps: Racers, reader: Platform, owner_conn: psycopg.Connection[Any]
) -> None:
    skill = approved_skill(apps[0], "Echo")
    for _ in range(ROUNDS):
        tenant_id = create_tenant(apps[0])
        outcomes = race(
            *(partial(app.install_skill, InstallSkill(tenant_id, skill.id)) for app in apps)
        )
        won, lost = winner_and_loser(outcomes)
        assert "already installed" in str(outcomes[lost].error)
        index: UniqueKey = reader.repository.get(index_id(installation_key(tenant_id, skill.id)))
        assert index.owner_id == outcomes[won].value.id
    # every install counted one download, and no refused one did
    assert reader.get_skill(skill.id).downloads == ROUNDS
