"""Request and response models shared by the routers."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


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
