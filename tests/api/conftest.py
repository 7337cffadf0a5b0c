"""Fixtures of the API tests: each module's own tenant, its users, and a tenant to stay out of."""

from __future__ import annotations

import pytest

from tests.factories import TenantCtx, UserCtx, create_tenant, create_users


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
