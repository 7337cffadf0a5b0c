"""Read-model handlers of identity: tenants, users, roles, credentials, preferences."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from projections.batch import Cursor
from projections.jsonutil import dumps, jsonb, text
from projections.readmodel.handlers import event_name, on, touch

# --- tenants and their configuration ------------------------------------------------------------


def _replace_config(curs: Cursor, e: Any, config: dict[str, Any] | None) -> None:
    curs.execute("DELETE FROM tenant_config WHERE tenant_id = %s", (e.originator_id,))
    for key, value in (config or {}).items():
        _upsert_config(curs, e, key, value)


def _upsert_config(curs: Cursor, e: Any, key: str, value: Any) -> None:
    curs.execute(
        "INSERT INTO tenant_config (tenant_id, config_key, config_value, version, updated_at)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tenant_id, config_key) DO UPDATE"
        " SET config_value = excluded.config_value, version = excluded.version,"
        " updated_at = excluded.updated_at",
        # JSON null is a value here (the column is NOT NULL): never let it become SQL NULL.
        (e.originator_id, key, Jsonb(value, dumps=dumps), e.originator_version, e.timestamp),
    )


@on("Tenant.Created")
def _tenant_created(curs: Cursor, e: Any) -> None:
    curs.execute(
        "INSERT INTO tenants (id, name, slug, config, billing_info, status, version,"
        " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, 'active', %s, %s, %s)",
        (
            e.originator_id, e.name, e.slug, jsonb(e.config), jsonb(e.billing_info),
            e.originator_version, e.timestamp, e.timestamp,
        ),
    )  # fmt: skip
    _replace_config(curs, e, e.config)


@on("Tenant.Updated")
def _tenant_updated(curs: Cursor, e: Any) -> None:
    sets = {
        k: (jsonb(v) if k in ("config", "billing_info") else v)
        for k, v in e.changes.items()
        if k in ("name", "config", "billing_info")
    }
    touch(curs, "tenants", e, sets)
    if "config" in e.changes:
        _replace_config(curs, e, e.changes["config"])


@on("Tenant.StatusChanged")
def _tenant_status(curs: Cursor, e: Any) -> None:
    touch(curs, "tenants", e, {"status": e.status})


@on("Tenant.ConfigSet")
def _tenant_config_set(curs: Cursor, e: Any) -> None:
    curs.execute(
        "UPDATE tenants SET config = coalesce(config, '{}'::jsonb)"
        " || jsonb_build_object(%s::text, %s::jsonb), version = %s, updated_at = %s WHERE id = %s",
        (e.key, jsonb(e.value), e.originator_version, e.timestamp, e.originator_id),
    )
    _upsert_config(curs, e, e.key, e.value)


@on("Tenant.ConfigUnset")
def _tenant_config_unset(curs: Cursor, e: Any) -> None:
    curs.execute(
        "UPDATE tenants SET config = coalesce(config, '{}'::jsonb) - %s::text,"
        " version = %s, updated_at = %s WHERE id = %s",
        (e.key, e.originator_version, e.timestamp, e.originator_id),
    )
    curs.execute(
        "DELETE FROM tenant_config WHERE tenant_id = %s AND config_key = %s",
        (e.originator_id, e.key),
    )


# --- users, roles, credentials, preferences ----------------------------------------------------


@on("User.Registered")
def _user_registered(curs: Cursor, e: Any) -> None:
    curs.execute(
        "INSERT INTO users (id, tenant_id, email, name, role, status, version, created_at,"
        " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            e.originator_id, e.tenant_id, e.email, e.name, e.role, e.status,
            e.originator_version, e.timestamp, e.timestamp,
        ),
    )  # fmt: skip


@on("User.Updated")
def _user_updated(curs: Cursor, e: Any) -> None:
    sets = {k: v for k, v in e.changes.items() if k in ("name", "role")}
    touch(curs, "users", e, sets)


@on("User.StatusChanged")
def _user_status(curs: Cursor, e: Any) -> None:
    touch(curs, "users", e, {"status": e.status})


@on("User.PasswordChanged")
def _user_password(curs: Cursor, e: Any) -> None:
    touch(curs, "users", e, {})  # the hash never leaves the event store


@on("User.CredentialsRevoked")
def _user_credentials_revoked(curs: Cursor, e: Any) -> None:
    touch(curs, "users", e, {})  # only the version moves: the ETag the next write must send


@on("User.LoggedIn")
def _user_logged_in(curs: Cursor, e: Any) -> None:
    touch(curs, "users", e, {"last_login": e.at})


@on("User.RolesAssigned")
def _user_roles(curs: Cursor, e: Any) -> None:
    curs.execute(
        "UPDATE users SET version = %s, updated_at = %s WHERE id = %s RETURNING tenant_id",
        (e.originator_version, e.timestamp, e.originator_id),
    )
    row = curs.fetchone()
    if row is None:
        return
    curs.execute("DELETE FROM user_roles WHERE user_id = %s", (e.originator_id,))
    for a in e.assignments:
        curs.execute(
            "INSERT INTO user_roles (tenant_id, user_id, role_id, assigned_at, assigned_by,"
            " version) VALUES (%s, %s, %s, %s, %s, %s)",
            (
                row["tenant_id"], e.originator_id, a["role_id"], a["assigned_at"],
                a.get("assigned_by"), e.originator_version,
            ),
        )  # fmt: skip


@on("Role.Created")
def _role_created(curs: Cursor, e: Any) -> None:
    curs.execute(
        "INSERT INTO roles (id, name, description, permissions, builtin, version, created_at,"
        " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            e.originator_id, e.name, e.description, jsonb(list(e.permissions)), e.builtin,
            e.originator_version, e.timestamp, e.timestamp,
        ),
    )  # fmt: skip


@on("Role.Updated")
def _role_updated(curs: Cursor, e: Any) -> None:
    touch(
        curs, "roles", e,
        {"description": e.description, "permissions": jsonb(list(e.permissions))},
    )  # fmt: skip


@on("Session.Opened")
def _session_opened(curs: Cursor, e: Any) -> None:
    curs.execute(
        "INSERT INTO sessions (id, tenant_id, user_id, expires_at, version, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (e.originator_id, e.tenant_id, e.user_id, e.expires_at, e.originator_version, e.timestamp),
    )


@on("Session.Revoked")
def _session_revoked(curs: Cursor, e: Any) -> None:
    touch(curs, "sessions", e, {"revoked_at": e.timestamp}, updated=False)


@on("ApiKey.Created")
def _api_key_created(curs: Cursor, e: Any) -> None:
    curs.execute(
        "INSERT INTO api_keys (id, tenant_id, name, role, created_by, version, created_at,"
        " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            e.originator_id, e.tenant_id, e.name, e.role, e.created_by, e.originator_version,
            e.timestamp, e.timestamp,
        ),
    )  # fmt: skip


@on("ApiKey.Revoked")
def _api_key_revoked(curs: Cursor, e: Any) -> None:
    touch(curs, "api_keys", e, {"revoked_at": e.timestamp})


@on("UserPreference.Set", "UserPreference.Changed")
def _preference_set(curs: Cursor, e: Any) -> None:
    if event_name(e) == "UserPreference.Set":
        curs.execute(
            "INSERT INTO user_preferences (id, tenant_id, user_id, preference_key,"
            " preference_value, version, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                e.originator_id, e.tenant_id, e.user_id, e.key, text(e.value),
                e.originator_version, e.timestamp, e.timestamp,
            ),
        )  # fmt: skip
        curs.execute(
            "INSERT INTO preference_identities (id, tenant_id, user_id, preference_key,"
            " created_at) VALUES (%s, %s, %s, %s, %s)",
            (e.originator_id, e.tenant_id, e.user_id, e.key, e.timestamp),
        )
        return
    # one statement for both cases: a live row is updated, a deleted one revived (same id, so
    # same user and key, remembered in preference_identities)
    curs.execute(
        "INSERT INTO user_preferences (id, tenant_id, user_id, preference_key,"
        " preference_value, version, created_at, updated_at)"
        " SELECT id, tenant_id, user_id, preference_key, %s, %s, %s, %s"
        " FROM preference_identities WHERE id = %s"
        " ON CONFLICT (id) DO UPDATE SET preference_value = excluded.preference_value,"
        " version = excluded.version, updated_at = excluded.updated_at",
        (text(e.value), e.originator_version, e.timestamp, e.timestamp, e.originator_id),
    )


@on("UserPreference.Deleted")
def _preference_deleted(curs: Cursor, e: Any) -> None:
    curs.execute("DELETE FROM user_preferences WHERE id = %s", (e.originator_id,))
