"""Request and response models shared by the routers."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator


def _nul_at(value: Any, pointer: str = "") -> str | None:
    """The JSON Pointer of the first string (or key) holding a NUL character, if any."""
    if isinstance(value, str):
        return pointer if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            here = pointer + "/" + str(k).replace("~", "~0").replace("/", "~1")
            if "\x00" in str(k):
                return here
            found = _nul_at(v, here)
            if found is not None:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _nul_at(v, f"{pointer}/{i}")
            if found is not None:
                return found
    return None


class Strict(BaseModel):
    """Unknown fields are an error, not silently dropped; NUL characters are refused.

    PostgreSQL can store NUL in neither ``text`` nor ``jsonb``: accepted into an event, such a
    value would stop the projector for good, so it is refused at the edge.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        where = _nul_at(data)
        if where is not None:
            raise ValueError(f"NUL characters are not allowed (at {where or '/'})")
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
