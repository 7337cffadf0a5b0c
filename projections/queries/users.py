"""Users as the API reads them: one, a page of them, their role assignments."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from domain.kernel.shredding import ERASED
from projections.batch import Cursor
from projections.queries.paging import Conn, PageOf, PageRequest, Row, fetch_page
from projections.readmodel.identity import ERASED_EMAIL_DOMAIN


def _shown(row: Row) -> Row:
    """An erased user's placeholder address reads as the erased marker."""
    if str(row.get("email", "")).endswith("@" + ERASED_EMAIL_DOMAIN):
        row["email"] = ERASED
    return row


def user(conn: Conn, user_id: UUID) -> Row | None:
    row = conn.execute("SELECT * FROM users WHERE id = %s", (user_id,)).fetchone()
    return None if row is None else _shown(row)


def list_users(
    conn: Conn, page: PageRequest, *, status: str | None = None, role: str | None = None
) -> PageOf:
    """Oldest first, of one ``status`` and one built-in ``role`` if given."""
    where: list[str] = []
    params: list[object] = []
    if status is not None:
        where.append("status = %s")
        params.append(status)
    if role is not None:
        where.append("role = %s")
        params.append(role)
    found = fetch_page(conn, "SELECT * FROM users", page, where=where, params=params)
    for row in found[0]:
        _shown(row)
    return found


def role_assignments(conn: Conn, user_ids: Collection[UUID]) -> dict[UUID, list[Row]]:
    """Each user's role assignments (``role_id, name, assigned_at, assigned_by``), oldest
    first; one query for them all."""
    by_user: dict[UUID, list[Row]] = {user_id: [] for user_id in user_ids}
    if by_user:
        for row in conn.execute(
            "SELECT ur.user_id, ur.role_id, r.name, ur.assigned_at, ur.assigned_by"
            " FROM user_roles ur LEFT JOIN roles r ON r.id = ur.role_id"
            " WHERE ur.user_id = ANY(%s) ORDER BY ur.assigned_at, ur.role_id",
            (list(by_user),),
        ).fetchall():
            by_user[row.pop("user_id")].append(row)
    return by_user


def existing(conn: Conn, user_ids: Collection[UUID]) -> set[UUID]:
    """Which of ``user_ids`` are users the connection can see (its tenant's, under RLS)."""
    if not user_ids:
        return set()
    rows = conn.execute("SELECT id FROM users WHERE id = ANY(%s)", (list(user_ids),))
    return {row["id"] for row in rows}


def role_holders(
    conn: Conn | Cursor, tenant_id: UUID, builtin: Collection[str], role: str
) -> list[UUID]:
    """The tenant's active users who hold ``role``: a built-in role in ``builtin`` (the
    required one and those above it), or a custom role assigned by that name (any case)."""
    rows = conn.execute(
        "SELECT u.id FROM users u WHERE u.tenant_id = %s AND u.status = 'active'"
        " AND (u.role::text = ANY(%s) OR EXISTS (SELECT 1 FROM user_roles ur"
        " JOIN roles r ON r.id = ur.role_id WHERE ur.tenant_id = u.tenant_id"
        " AND ur.user_id = u.id AND lower(r.name) = lower(%s))) ORDER BY u.id",
        (tenant_id, list(builtin), role),
    ).fetchall()
    return [UUID(str(row["id"] if isinstance(row, dict) else row[0])) for row in rows]
def user_ids(conn: Conn) -> list[UUID]:
    """Every user id the connection can see (its tenant's, under RLS), oldest first."""
    rows = conn.execute("SELECT id FROM users ORDER BY created_at, id").fetchall()
    return [row["id"] for row in rows]
