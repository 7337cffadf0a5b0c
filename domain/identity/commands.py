"""Command inputs of identity: tenants, users, preferences, roles, logins and API keys.

One frozen model per multi-field command, so fields can be added later. Fields are typed
loosely (``Any`` where callers pass raw JSON) because the commands validate everything
themselves and report problems as ``ValidationError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

DEFAULT_SESSION_TTL = timedelta(hours=12)


@dataclass(frozen=True)
class CreateTenant:
    name: Any
    slug: Any
    admin_email: Any = None
    admin_password: Any = None
    admin_name: Any = "Administrator"
    config: Any = None
    billing_info: Any = None


@dataclass(frozen=True)
class UpdateTenant:
    tenant_id: UUID
    name: Any = None
    config: Any = None
    billing_info: Any = None
    status: Any = None
    expected_version: int | None = None


@dataclass(frozen=True)
class RegisterUser:
    tenant_id: UUID
    email: Any
    name: Any
    password: Any = None  # may be omitted only for status "invited"
    role: Any = "user"
    status: Any = "active"


@dataclass(frozen=True)
class UpdateUser:
    tenant_id: UUID
    user_id: UUID
    name: Any = None
    role: Any = None
    status: Any = None
    expected_version: int | None = None


@dataclass(frozen=True)
class ChangePassword:
    tenant_id: UUID
    user_id: UUID
    new_password: Any


@dataclass(frozen=True)
class SetUserRoles:
    tenant_id: UUID
    user_id: UUID
    role_ids: Any
    assigned_by: UUID | None = None
    expected_version: int | None = None  # the user's version from the ETag (If-Match)


@dataclass(frozen=True)
class SetPreference:
    tenant_id: UUID
    user_id: UUID
    key: Any
    value: Any


@dataclass(frozen=True)
class Login:
    tenant_slug: Any
    email: Any
    password: Any
    ttl: timedelta = DEFAULT_SESSION_TTL


@dataclass(frozen=True)
class CreateApiKey:
    tenant_id: UUID
    name: Any
    role: Any = "user"
    created_by: UUID | None = None


@dataclass(frozen=True)
class CreateRole:
    name: Any
    permissions: Any
    description: Any = ""
