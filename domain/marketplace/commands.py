"""Command inputs of the marketplace: publishing skills and installing them in tenants.

One frozen model per multi-field command, so fields can be added later. Fields are typed
loosely (``Any`` where callers pass raw JSON) because the commands validate everything
themselves and report problems as ``ValidationError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID


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
