"""Request and response models shared by the routers."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.boundary import InputError, check_value


class Strict(BaseModel):
    """Unknown fields are an error, not silently dropped; what the input boundary refuses
    (NUL, lone surrogates, deep nesting, huge integers) is refused here too, whatever the
    model was validated from (``api/boundary.py``)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        try:
            check_value(data)
        except InputError as e:
            raise ValueError(f"{e.message} (at {e.pointer or '/'})") from None
        return data


class TenantCreate(Strict):
    name: str = Field(description="2 to 255 characters.")
    slug: str = Field(description="Unique, kebab-case: ^[a-z0-9-]+$.")
    admin_email: str
    admin_password: str = Field(description="The first admin user's password.")
    admin_name: str = "Administrator"
    config: dict[str, Any] | None = None
    billing_info: dict[str, Any] | None = None


class TenantUpdate(Strict):
    name: str | None = None
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
