"""The marketplace as the API reads it: skills (browse, one) and a tenant's installations."""

from __future__ import annotations

from uuid import UUID

from projections.queries.paging import Conn, PageOf, PageRequest, Row, fetch_page


def skill(conn: Conn, skill_id: UUID) -> Row | None:
    return conn.execute("SELECT * FROM marketplace_skills WHERE id = %s", (skill_id,)).fetchone()


def list_skills(
    conn: Conn,
    page: PageRequest,
    *,
    every_skill: bool,
    developer_id: UUID | None = None,
    status: str | None = None,
    category: str | None = None,
    q: str | None = None,
) -> PageOf:
    """Oldest first. Without ``every_skill`` (the platform admin's view): only approved
    public skills and ``developer_id``'s own. ``q``: words in the name or description, or
    their start."""
    where: list[str] = []
    params: list[object] = []
    if not every_skill:
        where.append("(status = 'active' AND is_public) OR developer_id = %s")
        params.append(developer_id)
    elif status is not None:
        where.append("status = %s")
        params.append(status)
    if category:
        where.append("category = %s")
        params.append(category)
    if q and q.strip():
        pattern = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(
            "to_tsvector('simple', name || ' ' || description)"
            " @@ plainto_tsquery('simple', %s) OR name ILIKE %s OR description ILIKE %s"
        )
        params += [q, pattern + "%", pattern + "%"]
    return fetch_page(conn, "SELECT * FROM marketplace_skills", page, where=where, params=params)


_INSTALLATIONS = (
    "SELECT i.*, s.name AS skill_name, s.definition -> 'config_schema' AS config_schema"
    " FROM installed_skills i JOIN marketplace_skills s ON s.id = i.skill_id"
)


def installation(conn: Conn, installation_id: UUID) -> Row | None:
    """An installation with its skill's name and config schema (its config unredacted)."""
    return conn.execute(_INSTALLATIONS + " WHERE i.id = %s", (installation_id,)).fetchone()


def list_installations(conn: Conn, page: PageRequest) -> PageOf:
    """Oldest first, each like ``installation``."""
    return fetch_page(
        conn, _INSTALLATIONS, page, order_column="i.installed_at", id_column="i.id",
        row_key="installed_at",
    )  # fmt: skip
