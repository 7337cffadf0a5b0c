"""Fixtures of the API tests: each module's own tenant, its users, and a tenant to stay out of."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.factories import TenantCtx, UserCtx, create_tenant, create_users
from tests.support.servers import served_in_thread


@pytest.fixture(scope="module")
def tenant(client) -> TenantCtx:  # type: ignore[no-untyped-def]
    """A tenant of this test module, its first admin logged in."""
    return create_tenant(client)


@pytest.fixture(scope="module")
def users(client, tenant: TenantCtx) -> dict[str, UserCtx]:  # type: ignore[no-untyped-def]
    """One logged-in user of ``tenant`` per built-in role."""
    return create_users(client, tenant)


@pytest.fixture(scope="module")
def other_tenant(client) -> TenantCtx:  # type: ignore[no-untyped-def]
    """A second tenant of this test module, whose data ``tenant`` must never reach."""
    return create_tenant(client)


@pytest.fixture(scope="module")
def live_url(container) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The session's app served by uvicorn on a loopback port: for clients over real HTTP."""
    from api.app import create_app

    with served_in_thread(create_app(container)) as base:
        yield base
