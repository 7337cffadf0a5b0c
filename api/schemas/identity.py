"""Request and response models of identity: tenants, login, users, roles, keys, config."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, field_validator
from pydantic.config import JsonDict

from api.schemas import Strict, trimmed_text

SLUG: JsonDict = {"maxLength": 100, "pattern": r"^[a-z0-9]+(?:-[a-z0-9]+)*$"}  # SLUG_RE
EMAIL: JsonDict = {"format": "email", "maxLength": 255}
PASSWORD: JsonDict = {"minLength": 12, "maxLength": 1024}  # and zxcvbn: no schema says
RoleName = Literal["admin", "manager", "user", "viewer"]
UserStatus = Literal["active", "inactive", "invited"]


class LoginRequest(Strict):
    tenant: str = Field(max_length=100, description="The tenant's slug.")
    email: str = Field(max_length=255)
    password: str = Field(max_length=1024)


class RoleAssignmentPublic(BaseModel):
    role_id: UUID
    name: str | None = None
    assigned_at: datetime
    assigned_by: UUID | None = None


class UserPublic(BaseModel):
    id: UUID
    tenant_id: UUID
    email: str
    name: str
    role: str
    status: str
    last_login: datetime | None = None
    roles: list[RoleAssignmentPublic] = Field(default_factory=list)
    version: int
    created_at: datetime
    updated_at: datetime


class LoginResponse(BaseModel):
    token: str = Field(description="Bearer token of the new session; shown once.")
    expires_at: datetime
    user: UserPublic


class UserCreate(Strict):
    email: str = Field(max_length=255, json_schema_extra=EMAIL)
    name: str = Field(max_length=255, json_schema_extra=trimmed_text(2, 255))
    password: str | None = Field(
        default=None,
        max_length=1024,
        description="12+ characters, not easily guessed; may be omitted if invited.",
        json_schema_extra=PASSWORD,
    )
    role: RoleName = "user"
    status: UserStatus = "active"


class UserUpdate(Strict):
    name: str | None = Field(default=None, max_length=255, json_schema_extra=trimmed_text(2, 255))
    role: RoleName | None = None
    status: UserStatus | None = None
    password: str | None = Field(
        default=None, max_length=1024, description="A new password; ends the user's sessions."
    )


class UserRolesSet(Strict):
    role_ids: list[UUID] = Field(max_length=100)


class TenantBrief(BaseModel):
    id: UUID
    slug: str
    name: str
    status: str


class ApiKeyBrief(BaseModel):
    id: UUID
    name: str
    role: str


class MePublic(BaseModel):
    kind: Literal["user", "api_key"]
    role: str
    permissions: list[str]
    tenant: TenantBrief
    user: UserPublic | None = None
    api_key: ApiKeyBrief | None = None


class RolePublic(BaseModel):
    id: UUID
    name: str
    description: str | None = None
    permissions: list[str]
    builtin: bool
    version: int
    created_at: datetime
    updated_at: datetime


class ApiKeyCreate(Strict):
    name: str = Field(max_length=255, json_schema_extra=trimmed_text(1, 255))
    role: RoleName = "user"


class ApiKeyPublic(BaseModel):
    id: UUID
    name: str
    role: str
    created_by: UUID | None = None
    revoked_at: datetime | None = None
    version: int
    created_at: datetime
    updated_at: datetime


class ApiKeyCreated(ApiKeyPublic):
    secret: str = Field(description="The bearer secret; shown once, only its hash is stored.")


class PreferenceSet(Strict):
    value: str = Field(max_length=10_000)


class PreferencePublic(BaseModel):
    key: str
    value: str
    version: int
    created_at: datetime
    updated_at: datetime


class ConfigSet(Strict):
    value: Any = Field(
        description="Any JSON value but null.", json_schema_extra={"not": {"type": "null"}}
    )

    @field_validator("value")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # the read model stores entries in a NOT NULL column; "unset" is not part of the API
        if value is None:
            raise ValueError("must not be null")
        return value


class ConfigPublic(BaseModel):
    key: str
    value: Any = Field(description="Secrets (keys like password/secret/token/api_key) redacted.")
    version: int
    updated_at: datetime


class TenantCreate(Strict):
    name: str = Field(json_schema_extra=trimmed_text(2, 255))
    slug: str = Field(
        description="Unique, kebab-case: ^[a-z0-9-]+$.",
        json_schema_extra=SLUG,
    )
    admin_email: str = Field(json_schema_extra=EMAIL)
    admin_password: str = Field(
        description="The first admin user's password: 12+ characters, not easily guessed.",
        json_schema_extra=PASSWORD,
    )
    admin_name: str = Field(default="Administrator", json_schema_extra=trimmed_text(2, 255))
    config: dict[str, Any] | None = None
    billing_info: dict[str, Any] | None = None


class TenantUpdate(Strict):
    name: str | None = Field(default=None, json_schema_extra=trimmed_text(2, 255))
    config: dict[str, Any] | None = None
    billing_info: dict[str, Any] | None = None
    status: str | None = None


class UserBrief(BaseModel):
    id: UUID
    email: str
    name: str
    role: str


class TenantPublic(BaseModel):
    id: UUID
    name: str
    slug: str
    status: str
    config: dict[str, Any] | None = None
    billing_info: dict[str, Any] | None = None
    version: int
    created_at: datetime
    updated_at: datetime


class TenantCreated(TenantPublic):
    admin: UserBrief | None = None
