"""Personal fields sealed in stored events, opened on load, erased for good (in memory)."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

from domain.identity.commands import CreateTenant, RegisterUser, SetPreference, UpdateUser
from domain.kernel.actor import Actor, acting_as
from domain.kernel.personal_data import open_tokens
from domain.kernel.shredding import ERASED
from domain.messaging.commands import RecordConversation
from domain.platform import Platform
from tests.support.doubles import PASSWORD, SEALED
from tests.unit.domain.conftest import MakeApp


def stored_text(app: Platform) -> str:
    """Every stored event as the audit log reads it (the raw mapper: tokens stay sealed)."""
    events = app.recorder.select_notifications(1, 10_000)
    return "\n".join(json.dumps(vars(app.raw_mapper.to_domain_event(n)), default=str)
                     for n in events)  # fmt: skip


def setup(make_app: MakeApp) -> tuple[Platform, Any, Any]:
    app = make_app(SEALED)
    made = app.create_tenant(CreateTenant(name="Acme", slug=f"t-{uuid4().hex[:8]}"))
    tenant = made.tenant
    with acting_as(Actor(kind="user", user_id=None, ip="10.1.2.3", user_agent="Agent/7")):
        user = app.register_user(
            RegisterUser(tenant_id=tenant.id, email="Zelda@Example.com", name="Zelda Q",
                         password=PASSWORD, role="user", status="active")
        )  # fmt: skip
    return app, tenant, user


def test_personal_fields_are_stored_sealed_and_loaded_open(make_app: MakeApp) -> None:
    app, tenant, user = setup(make_app)
    me = Actor(kind="user", user_id=str(user.id), tenant_id=str(tenant.id), ip="10.9.9.9",
               user_agent="Browser/42")  # fmt: skip
    with acting_as(me):
        app.update_user(UpdateUser(tenant_id=tenant.id, user_id=user.id, name="Zelda R"))
        app.set_preference(SetPreference(tenant.id, user.id, "theme", "dark-zelda"))
        app.set_preference(SetPreference(tenant.id, user.id, "theme", "light-zelda"))
        app.record_conversation(
            RecordConversation(tenant_id=tenant.id, user_id=user.id, session_id="s",
                               input_text="hello zelda", output_text="hi",
                               context_data={"k": "ctx-zelda"})
        )  # fmt: skip
    text = stored_text(app)
    for plain in ("zelda@example.com", "Zelda Q", "Zelda R", "dark-zelda", "light-zelda",
                  "hello zelda", "ctx-zelda", "10.9.9.9", "Browser/42"):  # fmt: skip
        assert plain not in text, plain
    loaded = app.get_user(tenant.id, user.id)
    assert (loaded.email, loaded.name) == ("zelda@example.com", "Zelda R")
    assert app.get_preference(tenant.id, user.id, "theme").value == "light-zelda"


def test_login_lookup_by_email_works_through_the_keyed_digest(make_app: MakeApp) -> None:
    app, tenant, user = setup(make_app)
    assert "zelda@example.com" not in stored_text(app)
    found = app.find_user_by_email(tenant.id, "ZELDA@example.com")
    assert found is not None
    assert found.id == user.id


def test_erasure_makes_every_field_read_erased_and_frees_the_email(make_app: MakeApp) -> None:
    app, tenant, user = setup(make_app)
    app.erase_user(tenant.id, user.id)
    erased = app.get_user(tenant.id, user.id)
    assert erased.erased
    assert (erased.email, erased.name) == (ERASED, ERASED)
    assert app.find_user_by_email(tenant.id, "zelda@example.com") is None
    # the address can be registered again, as a new subject
    again = app.register_user(
        RegisterUser(tenant_id=tenant.id, email="zelda@example.com", name="New",
                     password=PASSWORD, role="user", status="active")
    )  # fmt: skip
    assert again.id != user.id
    assert app.find_user_by_email(tenant.id, "zelda@example.com").id == again.id  # type: ignore[union-attr]


def test_erasing_twice_records_one_erasure(make_app: MakeApp) -> None:
    app, tenant, user = setup(make_app)
    app.erase_user(tenant.id, user.id)
    version = app.get_user(tenant.id, user.id).version
    app.erase_user(tenant.id, user.id)
    assert app.get_user(tenant.id, user.id).version == version


def test_tokens_of_an_erased_subject_open_as_the_marker(make_app: MakeApp) -> None:
    app, tenant, user = setup(make_app)
    registered = app.raw_mapper.to_domain_event(app.recorder.select_events(user.id, limit=1)[0])
    token = vars(registered)["email"]
    assert open_tokens(app.subject_keys, token) == "zelda@example.com"
    app.erase_user(tenant.id, user.id)
    assert open_tokens(app.subject_keys, {"email": token}) == {"email": ERASED}


def test_a_user_snapshot_holds_the_personal_fields_sealed(make_app: MakeApp) -> None:
    app, tenant, user = setup(make_app)
    for _ in range(60):  # a snapshot every 50 versions
        app.record_login(tenant.id, user.id)
    assert app.snapshots is not None
    snapshots = list(app.snapshots.recorder.select_events(user.id))
    assert snapshots
    text = json.dumps([vars(app.raw_mapper.to_domain_event(s)) for s in snapshots], default=str)
    assert "zelda@example.com" not in text
    assert "Zelda Q" not in text
    assert '"$pd"' in text
    loaded = app.get_user(tenant.id, user.id)
    assert loaded.email == "zelda@example.com"
    app.erase_user(tenant.id, user.id)
    assert app.get_user(tenant.id, user.id).email == ERASED
