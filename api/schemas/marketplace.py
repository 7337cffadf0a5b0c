"""Request and response models of the marketplace: skills and installations."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field
from pydantic.config import JsonDict

from api.schemas import Strict, trimmed_text

SEMVER = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
"""semver.org's regular expression (what ``semver.Version.parse`` takes)."""
PRICE: JsonDict = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": 99_999_999},
        {"type": "string", "pattern": r"^[0-9]{1,8}(\.[0-9]{1,2})?$"},
    ],
    "description": "0 to 99999999.99, at most 2 decimals (a number or its text).",
}
SkillStatus = Literal["active", "pending", "rejected", "archived"]


class SkillCreate(Strict):
    name: str = Field(json_schema_extra=trimmed_text(2, 255))
    category: str = Field(json_schema_extra=trimmed_text(1, 100))
    definition: dict[str, Any] = Field(
        description="Optional `config_schema` (JSON Schema) and `implementation` (http/python)."
    )
    description: str = Field(default="", json_schema_extra=trimmed_text(0, 10_000))
    version: str = Field(
        default="1.0.0",
        description="Semantic version.",
        json_schema_extra={"maxLength": 20, "pattern": SEMVER},
    )
    price: Decimal | str = Field(default="0.00", json_schema_extra=PRICE)
    author: str | None = Field(default=None, json_schema_extra=trimmed_text(1, 255))
    is_public: bool = True


class SkillReject(Strict):
    reason: str = Field(default="", json_schema_extra=trimmed_text(0, 10_000))


class SkillPublic(BaseModel):
    id: UUID
    name: str
    description: str
    category: str
    definition: dict[str, Any]
    author: str | None = None
    developer_id: UUID | None = None
    version: str = Field(description="The skill's semantic version (latest published).")
    price: Decimal
    rating: Decimal | None = None
    downloads: int
    is_public: bool
    status: str
    review_reason: str | None = None
    revision: int = Field(description="The resource version (the ETag).")
    created_at: datetime
    updated_at: datetime


class InstallationCreate(Strict):
    skill_id: UUID
    config: dict[str, Any] | None = None


class InstallationUpdate(Strict):
    config: dict[str, Any] | None = None
    status: Literal["active", "disabled"] | None = None


class InstallationPublic(BaseModel):
    id: UUID
    skill_id: UUID
    skill_name: str
    skill_version: str
    config: dict[str, Any] | None = None
    installed_by: UUID | None = None
    installed_at: datetime
    status: str
    version: int
    updated_at: datetime
