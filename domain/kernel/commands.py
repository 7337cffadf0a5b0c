"""Command inputs: one frozen model per multi-field command, so fields can be added later.

Fields are typed loosely (``Any`` where callers pass raw JSON) because the commands
validate everything themselves and report problems as ``ValidationError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
class OpenSession:
    tenant_id: UUID
    user_id: UUID
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


@dataclass(frozen=True)
class CreateWorkflow:
    tenant_id: UUID
    name: Any
    definition: Any
    created_by: UUID | None = None


@dataclass(frozen=True)
class UpdateDefinition:
    tenant_id: UUID
    workflow_id: UUID
    definition: Any
    updated_by: UUID | None = None
    expected_version: int | None = None  # the aggregate version from the ETag (If-Match)


@dataclass(frozen=True)
class PublishSkill:
    name: Any
    category: Any
    definition: Any
    description: Any = ""
    version: Any = "1.0.0"
    price: Any = "0.00"
    author: Any = None
    developer_id: UUID | None = None
    is_public: Any = True


@dataclass(frozen=True)
class PublishSkillVersion:
    skill_id: UUID
    version: Any
    definition: Any


@dataclass(frozen=True)
class InstallSkill:
    tenant_id: UUID
    skill_id: UUID
    config: Any = None
    installed_by: UUID | None = None


@dataclass(frozen=True)
class UpdateInstallation:
    tenant_id: UUID
    installation_id: UUID
    config: Any = None
    status: Any = None
    expected_version: int | None = None  # the installation's version from the ETag (If-Match)


@dataclass(frozen=True)
class SendNotification:
    tenant_id: UUID
    recipient_user_id: UUID
    type: Any
    title: Any
    message: Any
    channel: Any
    priority: Any = "medium"
    idempotency_key: str | None = None
    """A retried request (e.g. a re-run workflow step) with the same key queues nothing new."""


@dataclass(frozen=True)
class RecordConversation:
    tenant_id: UUID
    user_id: UUID
    session_id: Any
    input_text: Any
    output_text: Any
    context_data: Any = field(default=None)
