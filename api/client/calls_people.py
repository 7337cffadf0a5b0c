"""The endpoints of people and what they hold, as data: users, roles, preferences, config,
the marketplace, installed skills, notifications and conversations."""

from __future__ import annotations

from typing import Any

from api.client.calls import (
    Call,
    Id,
    Lister,
    body,
    delete,
    get,
    get_json,
    lister,
    model,
    path,
    post,
    write,
)
from api.schemas.identity import ConfigPublic, PreferencePublic, RolePublic, UserPublic
from api.schemas.marketplace import InstallationPublic, SkillPublic
from api.schemas.messaging import ConversationPublic, NotificationPublic

# ---- users and roles


def user_create(email: str, name: str, password: str | None = None,
                **fields: Any) -> Call[UserPublic]:  # fmt: skip
    """``fields``: ``role`` (``user``), ``status`` (``active``; ``invited`` needs no password)."""
    return post("/v1/users", UserPublic, body(email=email, name=name, password=password, **fields))


def users(status: str | None = None, role: str | None = None,
          limit: int | None = None) -> Lister[UserPublic]:  # fmt: skip
    """Oldest first."""
    return lister("/v1/users", UserPublic, limit, status=status, role=role)


def user(user_id: Id) -> Call[UserPublic]:
    return get(path("/v1/users/{user_id}", user_id=user_id), UserPublic)


def user_update(user_id: Id, if_match: int | None = None, **fields: Any) -> Call[UserPublic]:
    """``fields``: ``name``, ``role``, ``status``, ``password`` (ends the user's sessions)."""
    at = path("/v1/users/{user_id}", user_id=user_id)
    return write("PATCH", at, UserPublic, body(**fields), if_match)


def user_set_roles(
    user_id: Id, role_ids: list[Id], if_match: int | None = None
) -> Call[UserPublic]:
    """Replace the user's role assignments."""
    at = path("/v1/users/{user_id}/roles", user_id=user_id)
    return write("PUT", at, UserPublic, {"role_ids": [str(r) for r in role_ids]}, if_match)


def user_erase(user_id: Id) -> Call[None]:
    """Erase the user's personal data for good (GDPR Art. 17): their key is destroyed."""
    at = path("/v1/users/{user_id}/erase", user_id=user_id)
    return Call("POST", at, lambda _: None, replayable=True)


def user_personal_data(user_id: Id) -> Call[dict[str, Any]]:
    """Every piece of personal data held about the user (GDPR Art. 15 and 20): yours, or
    anyone's for an admin."""
    return get_json(path("/v1/users/{user_id}/personal-data", user_id=user_id))


def roles(limit: int | None = None) -> Lister[RolePublic]:
    return lister("/v1/roles", RolePublic, limit)


# ---- the caller's preferences, the tenant's configuration


def preference(key: str) -> Call[PreferencePublic]:
    return get(path("/v1/me/preferences/{key}", key=key), PreferencePublic)


def preference_set(key: str, value: str, if_match: int | None = None) -> Call[PreferencePublic]:
    """Create or replace one of the caller's preferences."""
    at = path("/v1/me/preferences/{key}", key=key)
    return write("PUT", at, PreferencePublic, {"value": value}, if_match)


def preference_delete(key: str, if_match: int | None = None) -> Call[None]:
    return delete(path("/v1/me/preferences/{key}", key=key), if_match)


def config(key: str) -> Call[ConfigPublic]:
    """One entry (secret-like keys come back redacted)."""
    return get(path("/v1/config/{key}", key=key), ConfigPublic)


def config_set(key: str, value: Any, if_match: int | None = None) -> Call[ConfigPublic]:
    """Create or replace one entry (any JSON value but null)."""
    return write("PUT", path("/v1/config/{key}", key=key), ConfigPublic, {"value": value}, if_match)


# ---- marketplace and installed skills


def skill_publish(name: str, category: str, definition: dict[str, Any],
                  **fields: Any) -> Call[SkillPublic]:  # fmt: skip
    """``fields``: ``description``, ``version``, ``price``, ``author``, ``is_public``."""
    return post("/v1/marketplace/skills", SkillPublic,
                body(name=name, category=category, definition=definition, **fields))  # fmt: skip


def skills(q: str | None = None, category: str | None = None, status: str | None = None,
           limit: int | None = None) -> Lister[SkillPublic]:  # fmt: skip
    """Approved public skills and your own (``status``: the platform admin only)."""
    return lister("/v1/marketplace/skills", SkillPublic, limit, q=q, category=category,
                  status=status)  # fmt: skip


def skill(skill_id: Id) -> Call[SkillPublic]:
    return get(path("/v1/marketplace/skills/{skill_id}", skill_id=skill_id), SkillPublic)


def skill_approve(skill_id: Id) -> Call[SkillPublic]:
    """The platform admin's: a pending skill becomes installable."""
    return post(path("/v1/marketplace/skills/{skill_id}/approve", skill_id=skill_id), SkillPublic)


def skill_reject(skill_id: Id, reason: str = "") -> Call[SkillPublic]:
    """The platform admin's."""
    at = path("/v1/marketplace/skills/{skill_id}/reject", skill_id=skill_id)
    return post(at, SkillPublic, {"reason": reason})


def install(skill_id: Id, config: dict[str, Any] | None = None) -> Call[InstallationPublic]:
    """Install an approved skill in the tenant (``config``: checked against its schema)."""
    return post("/v1/installations", InstallationPublic,
                body(skill_id=str(skill_id), config=config))  # fmt: skip


def installations(limit: int | None = None) -> Lister[InstallationPublic]:
    return lister("/v1/installations", InstallationPublic, limit)


def installation(installation_id: Id) -> Call[InstallationPublic]:
    at = path("/v1/installations/{installation_id}", installation_id=installation_id)
    return get(at, InstallationPublic)


def installation_update(installation_id: Id, if_match: int | None = None,
                        **fields: Any) -> Call[InstallationPublic]:  # fmt: skip
    """``fields``: ``config``, ``status`` (``active`` or ``disabled``)."""
    at = path("/v1/installations/{installation_id}", installation_id=installation_id)
    return write("PATCH", at, InstallationPublic, fields, if_match)


def uninstall(installation_id: Id, if_match: int | None = None) -> Call[None]:
    at = path("/v1/installations/{installation_id}", installation_id=installation_id)
    return delete(at, if_match)


# ---- notifications and conversations


def notifications(unread: bool | None = None,
                  limit: int | None = None) -> Lister[NotificationPublic]:  # fmt: skip
    """Your notifications, newest first (``unread``: only unread, or only read)."""
    return lister("/v1/notifications", NotificationPublic, limit, unread=unread)


def notification_send(recipient_user_id: Id, channel: str, type: str, title: str, message: str,
                      priority: str | None = None) -> Call[NotificationPublic]:  # fmt: skip
    """``channel``: email, sms, push, slack or discord; ``priority``: low to urgent."""
    return post("/v1/notifications", NotificationPublic,
                body(recipient_user_id=str(recipient_user_id), channel=channel, type=type,
                     title=title, message=message, priority=priority))  # fmt: skip


def notification_read(notification_id: Id) -> Call[NotificationPublic]:
    """Mark one of your notifications read (idempotent, so resent after a lost answer)."""
    at = path("/v1/notifications/{notification_id}/read", notification_id=notification_id)
    return Call("POST", at, model(NotificationPublic), replayable=True)


def conversation_record(session_id: str, input_text: str, output_text: str,
                        context_data: dict[str, Any] | None = None,
                        ) -> Call[ConversationPublic]:  # fmt: skip
    return post("/v1/conversations", ConversationPublic,
                body(session_id=session_id, input_text=input_text, output_text=output_text,
                     context_data=context_data))  # fmt: skip


def conversations(session_id: str | None = None,
                  limit: int | None = None) -> Lister[ConversationPublic]:  # fmt: skip
    """Your conversation turns (of one ``session_id``), oldest first; the read is audited."""
    return lister("/v1/conversations", ConversationPublic, limit, session_id=session_id)
