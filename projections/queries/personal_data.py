"""Every piece of personal data the read model and audit log hold on one user (GDPR Art. 15)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from projections.queries.paging import Conn, Row


def _all(conn: Conn, query: str, *params: Any) -> list[Row]:
    return list(conn.execute(query, params).fetchall())


def personal_data(conn: Conn, user_id: UUID) -> dict[str, Any] | None:
    """The user's rows, table by table (None if the connection cannot see the user). Audit
    rows keep personal data sealed (``details.actor_sealed``, tokens in ``details``): the
    caller opens them with the subject keys."""
    user = conn.execute(
        "SELECT id, tenant_id, email, name, role, status, last_login, created_at, updated_at"
        " FROM users WHERE id = %s",
        (user_id,),
    ).fetchone()
    if user is None:
        return None
    return {
        "user": user,
        "preferences": _all(
            conn,
            "SELECT preference_key AS key, preference_value AS value, created_at, updated_at"
            " FROM user_preferences WHERE user_id = %s ORDER BY preference_key",
            user_id,
        ),
        "conversations": _all(
            conn,
            "SELECT id, session_id, input_text, output_text, context_data, created_at"
            " FROM conversations WHERE user_id = %s ORDER BY created_at, id",
            user_id,
        ),
        "notifications": _all(
            conn,
            "SELECT id, type, title, message, channel, status, created_at"
            " FROM notifications WHERE recipient_user_id = %s ORDER BY created_at, id",
            user_id,
        ),
        "sessions": _all(
            conn,
            "SELECT id, created_at, expires_at, revoked_at FROM sessions"
            " WHERE user_id = %s ORDER BY created_at, id",
            user_id,
        ),
        "runs": _all(
            conn,
            "SELECT id, workflow_id, status, input, output, created_at, ended_at FROM runs"
            " WHERE started_by = %s ORDER BY created_at, id",
            str(user_id),
        ),
        "activity": _all(
            conn,
            "SELECT id, action, resource_type, resource_id, host(ip_address) AS ip_address,"
            " user_agent, details -> 'actor_sealed' AS sealed, \"timestamp\""
            " FROM audit_events WHERE user_id = %s OR originator_id = %s"
            ' ORDER BY "timestamp", id',
            user_id,
            user_id,
        ),
    }
