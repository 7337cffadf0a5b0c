"""Read-model handlers: workflows, marketplace skills, installations, notifications, chats."""

from __future__ import annotations

from typing import Any

from projections.jsonutil import jsonb, text
from projections.readmodel.handlers import on, touch
from projections.runner import Cursor

# --- workflows -----------------------------------------------------------------------------------


# A workflow's row and its version row are written by ONE statement (a data-modifying CTE):
# no result travels back to Python, so a batch stays one pipeline (no round trip per event),
# and the definition is converted to JSON once; the version row takes the workflow row's value.
_ADD_VERSION = (
    " INSERT INTO workflow_versions (tenant_id, workflow_id, definition_version, definition,"
    " created_by, created_at, version)"
    " SELECT w.tenant_id, w.id, w.current_version, w.definition, %s::uuid, %s::timestamptz,"
    " w.version FROM w"
)


@on("Workflow.Created")
def _workflow_created(curs: Cursor, e: Any) -> None:
    curs.execute(
        "WITH w AS (INSERT INTO workflows (id, tenant_id, name, definition, current_version,"
        " created_by, status, version, created_at, updated_at)"
        " VALUES (%s, %s, %s, %s, 1, %s, 'draft', %s, %s, %s)"
        " RETURNING tenant_id, id, current_version, definition, version)" + _ADD_VERSION,
        (
            e.originator_id, e.tenant_id, e.name, jsonb(e.definition), e.created_by,
            e.originator_version, e.created_at, e.timestamp, e.created_by, e.created_at,
        ),
    )  # fmt: skip


@on("Workflow.DefinitionUpdated")
def _workflow_definition(curs: Cursor, e: Any) -> None:
    # no workflow row (never created): nothing is written, as before
    curs.execute(
        "WITH w AS (UPDATE workflows SET definition = %s, current_version = current_version + 1,"
        " version = %s, updated_at = %s WHERE id = %s"
        " RETURNING tenant_id, id, current_version, definition, version)" + _ADD_VERSION,
        (
            jsonb(e.definition), e.originator_version, e.timestamp, e.originator_id,
            e.updated_by, e.at,
        ),
    )  # fmt: skip


@on("Workflow.Renamed")
def _workflow_renamed(curs: Cursor, e: Any) -> None:
    touch(curs, "workflows", e, {"name": e.name})


@on("Workflow.StatusChanged")
def _workflow_status(curs: Cursor, e: Any) -> None:
    touch(curs, "workflows", e, {"status": e.status})


# --- marketplace ---------------------------------------------------------------------------------


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


# --- notifications and conversations ---------------------------------------------------------


@on("Notification.Created")
def _notification_created(curs: Cursor, e: Any) -> None:
    curs.execute(
        "INSERT INTO notifications (id, tenant_id, recipient_user_id, type, title, message,"
        " channel, priority, status, version, created_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s, %s, %s)",
        (
            e.originator_id, e.tenant_id, e.recipient_user_id, e.type, text(e.title),
            text(e.message), e.channel, e.priority, e.originator_version, e.timestamp,
            e.timestamp,
        ),
    )  # fmt: skip


@on("Notification.Sent")
def _notification_sent(curs: Cursor, e: Any) -> None:
    curs.execute(
        "UPDATE notifications SET status = 'sent', attempts = attempts + 1, sent_at = %s,"
        " provider_id = %s, version = %s, updated_at = %s WHERE id = %s",
        (e.at, e.provider_id, e.originator_version, e.timestamp, e.originator_id),
    )


@on("Notification.Delivered")
def _notification_delivered(curs: Cursor, e: Any) -> None:
    touch(curs, "notifications", e, {"status": "delivered", "delivered_at": e.at})


@on("Notification.DeliveryFailed")
def _notification_failed(curs: Cursor, e: Any) -> None:
    curs.execute(
        "UPDATE notifications SET"
        " attempts = attempts + CASE WHEN status = 'pending' THEN 1 ELSE 0 END,"
        " failure_reason = %s,"
        " status = CASE WHEN %s THEN 'failed'::notification_status ELSE status END,"
        " version = %s, updated_at = %s WHERE id = %s",
        (text(e.reason), e.permanent, e.originator_version, e.timestamp, e.originator_id),
    )


@on("Notification.Read")
def _notification_read(curs: Cursor, e: Any) -> None:
    touch(curs, "notifications", e, {"read_at": e.at})


@on("Conversation.Recorded")
def _conversation(curs: Cursor, e: Any) -> None:
    curs.execute(
        "INSERT INTO conversations (id, tenant_id, user_id, session_id, input_text, output_text,"
        " context_data, version, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            e.originator_id, e.tenant_id, e.user_id, text(e.session_id), text(e.input_text),
            text(e.output_text), jsonb(e.context_data), e.originator_version, e.timestamp,
        ),
    )  # fmt: skip
