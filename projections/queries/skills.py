"""Reads of installed skills: a tenant's active installations of a skill, by the skill's name."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

_ACTIVE_INSTALLATIONS = (
    "SELECT i.id FROM installed_skills i JOIN marketplace_skills s ON s.id = i.skill_id"
    " WHERE i.tenant_id = %s AND s.name = %s AND i.status = 'active'"
)
_ACTIVE_VERSIONS = (
    "SELECT i.skill_version FROM installed_skills i"
    " JOIN marketplace_skills s ON s.id = i.skill_id"
    " WHERE s.name = %s AND i.status = 'active'"
)


class InstalledSkills:
    """The engine's ``SkillCatalog`` over the read model, on a connection of the system role
    (it answers for any tenant: the worker serves them all)."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo

    def active_installations(self, tenant_id: UUID, name: str) -> list[UUID]:
        """Ids of the tenant's active installations of skill ``name``."""
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            rows = conn.execute(_ACTIVE_INSTALLATIONS, (tenant_id, name)).fetchall()
        return [row[0] for row in rows]


def active_versions(conn: psycopg.Connection[Any], name: str) -> list[str]:
    """The versions of skill ``name`` installed and active, on a connection whose row-level
    security already sees one tenant only."""
    rows = conn.execute(_ACTIVE_VERSIONS, (name,)).fetchall()
    return [row["skill_version"] if isinstance(row, dict) else row[0] for row in rows]
