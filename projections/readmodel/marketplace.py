"""Read-model handlers of the marketplace: skills, their versions, installations."""

from __future__ import annotations

from typing import Any

from projections.batch import Cursor
from projections.jsonutil import jsonb
from projections.readmodel.handlers import on, touch


def _skill_version(curs: Cursor, e: Any, version: str, definition: Any, at: Any) -> None:
    curs.execute(
        "INSERT INTO marketplace_skill_versions (skill_id, skill_version, definition,"
        " published_at, version) VALUES (%s, %s, %s, %s, %s)",
        (e.originator_id, version, jsonb(definition), at, e.originator_version),
    )


@on("MarketplaceSkill.Published")
def _skill_published(curs: Cursor, e: Any) -> None:
    curs.execute(
        "INSERT INTO marketplace_skills (id, name, description, category, definition, author,"
        " developer_id, latest_version, price, is_public, status, version, created_at,"
        " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s, %s, %s)",
        (
            e.originator_id, e.name, e.description, e.category, jsonb(e.definition), e.author,
            e.developer_id, e.version, e.price, e.is_public, e.originator_version,
            e.published_at, e.timestamp,
        ),
    )  # fmt: skip
    _skill_version(curs, e, e.version, e.definition, e.published_at)


@on("MarketplaceSkill.VersionPublished")
def _skill_version_published(curs: Cursor, e: Any) -> None:
    touch(
        curs, "marketplace_skills", e,
        {"latest_version": e.version, "definition": jsonb(e.definition), "status": "pending",
         "review_reason": None},
    )  # fmt: skip
    _skill_version(curs, e, e.version, e.definition, e.at)


@on("MarketplaceSkill.Approved")
def _skill_approved(curs: Cursor, e: Any) -> None:
    touch(curs, "marketplace_skills", e, {"status": "active", "review_reason": None})


@on("MarketplaceSkill.Rejected")
def _skill_rejected(curs: Cursor, e: Any) -> None:
    touch(curs, "marketplace_skills", e, {"status": "rejected", "review_reason": e.reason})


@on("MarketplaceSkill.Archived")
def _skill_archived(curs: Cursor, e: Any) -> None:
    touch(curs, "marketplace_skills", e, {"status": "archived"})


@on("MarketplaceSkill.Rated")
def _skill_rated(curs: Cursor, e: Any) -> None:
    touch(curs, "marketplace_skills", e, {"rating": e.rating})


@on("MarketplaceSkill.Downloaded")
def _skill_downloaded(curs: Cursor, e: Any) -> None:
    curs.execute(
        "UPDATE marketplace_skills SET downloads = downloads + 1, version = %s, updated_at = %s"
        " WHERE id = %s",
        (e.originator_version, e.timestamp, e.originator_id),
    )


@on("Installation.Installed")
def _installed(curs: Cursor, e: Any) -> None:
    curs.execute(
        "INSERT INTO installed_skills (id, tenant_id, skill_id, skill_version, config,"
        " installed_by, installed_at, status, version, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, 'active', %s, %s)",
        (
            e.originator_id, e.tenant_id, e.skill_id, e.skill_version, jsonb(e.config),
            e.installed_by, e.installed_at, e.originator_version, e.timestamp,
        ),
    )  # fmt: skip


@on("Installation.Reconfigured")
def _reconfigured(curs: Cursor, e: Any) -> None:
    touch(curs, "installed_skills", e, {"config": jsonb(e.config)})


@on("Installation.StatusChanged")
def _installation_status(curs: Cursor, e: Any) -> None:
    touch(curs, "installed_skills", e, {"status": e.status})


@on("Installation.Uninstalled")
def _uninstalled(curs: Cursor, e: Any) -> None:
    # the read model shows what is installed; the history stays in the events and audit log
    curs.execute("DELETE FROM installed_skills WHERE id = %s", (e.originator_id,))
