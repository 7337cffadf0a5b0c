"""Fixtures for domain unit tests: an in-memory Platform with a cheap hasher and the fake clock
(``clock``, from ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest

from domain.identity.application import TenantWithAdmin
from domain.identity.commands import CreateTenant, RegisterUser
from domain.identity.users import User
from domain.platform import Platform
from tests.support.doubles import CHEAP_HASHER, IN_MEMORY, PASSWORD, FakeClock

MakeApp = Callable[..., Platform]


@pytest.fixture
def make_app(clock: FakeClock) -> MakeApp:
    """Build a Platform on the in-memory store; ``env`` adds settings (e.g. a cipher)."""

    def make(env: dict[str, str] | None = None, **kwargs: Any) -> Platform:
        kwargs.setdefault("password_hasher", CHEAP_HASHER)
        return Platform({**IN_MEMORY, **(env or {})}, clock=clock, **kwargs)

    return make


@pytest.fixture
def app(make_app: MakeApp) -> Platform:
    return make_app()


@pytest.fixture
def stored(app: Platform) -> Callable[[], int]:
    """How many events ``app`` has recorded (to prove a rejection stores nothing)."""
    return lambda: app.recorder.max_notification_id() or 0


@pytest.fixture
def acme(app: Platform) -> TenantWithAdmin:
    return app.create_tenant(
        CreateTenant(
            name="Acme Ltd", slug="acme", admin_email="Boss@Acme.io", admin_password=PASSWORD
        )
    )


@pytest.fixture
def tenant_id(acme: TenantWithAdmin) -> UUID:
    return acme.tenant.id


@pytest.fixture
def user(app: Platform, tenant_id: UUID) -> User:
    return app.register_user(
        RegisterUser(tenant_id=tenant_id, email="ann@acme.io", name="Ann", password=PASSWORD)
    )


@pytest.fixture
def password() -> str:
    return PASSWORD
