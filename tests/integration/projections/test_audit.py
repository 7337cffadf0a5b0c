"""The audit log: one row per event, append-only in the database, and tamper-evident."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from projections.audit.chain import verify_chain
from tests.integration.projections.conftest import (
    Apps,
    TenantData,
    catch_up,
)


@contextmanager
def superuser(proj_db: Any) -> Iterator[psycopg.Connection[Any]]:
    """The owner (a superuser here) with every trigger off: someone going behind our back."""
    with psycopg.connect(proj_db.owner.conninfo, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        yield conn


def _rows(conn: psycopg.Connection[Any], tenant_id: Any) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT id, seq, details FROM audit_events WHERE tenant_id = %s ORDER BY source, seq",
        (tenant_id,),
    ).fetchall()


def test_every_event_has_exactly_one_audit_row(proj_db: Any, tenant: TenantData) -> None:
    with psycopg.connect(proj_db.system.conninfo) as conn:
        for source in ("platform", "runs"):
            events = conn.execute(f"SELECT count(*) FROM {source}_events").fetchone()
            rows = conn.execute(
                "SELECT count(*) FROM audit_events WHERE source = %s", (source,)
            ).fetchone()
            assert events == rows


def test_audit_rows_carry_the_actor_from_event_metadata(proj_db: Any, tenant: TenantData) -> None:
    with psycopg.connect(proj_db.system.conninfo, row_factory=psycopg.rows.dict_row) as conn:
        row = conn.execute(
            "SELECT * FROM audit_events WHERE tenant_id = %s AND action = 'SensitiveRead.Recorded'",
            (tenant.tenant_id,),
        ).fetchone()
    assert row is not None
    assert (row["resource_type"], row["resource_id"]) == ("user", str(tenant.user_id))
    assert row["user_id"] == tenant.admin_id
    assert str(row["ip_address"]) == "203.0.113.7"
    assert (row["user_agent"], row["actor_kind"]) == ("pytest", "user")
    assert row["request_id"] == f"req-{tenant.slug}"
    assert row["details"]["fields"] == ["email"]


def test_credentials_never_reach_the_audit_log(proj_db: Any, tenant: TenantData) -> None:
    with psycopg.connect(proj_db.system.conninfo) as conn:
        leaked = conn.execute(
            "SELECT count(*) FROM audit_events WHERE details::text ~ '\\$argon2'"
        ).fetchone()
    assert leaked == (0,)


def test_fresh_chains_verify(proj_db: Any, tenant: TenantData) -> None:
    with psycopg.connect(proj_db.system.conninfo) as conn:
        everything = verify_chain(conn)
        one = verify_chain(conn, tenant.tenant_id)
    assert everything.ok
    assert everything.broken is None
    assert one.ok
    assert one.events > 0
    assert set(one.head) == {"platform", "runs"}


def test_the_api_role_verifies_its_own_tenant_under_rls(proj_db: Any, tenant: TenantData) -> None:
    with psycopg.connect(proj_db.api.conninfo) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant.tenant_id),))
        result = verify_chain(conn)
    with psycopg.connect(proj_db.system.conninfo) as conn:
        expected = verify_chain(conn, tenant.tenant_id)
    assert result.ok
    assert result.events == expected.events


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events", "TRUNCATE audit_events"],
)
@pytest.mark.parametrize("role", ["system", "api"])
def test_service_roles_cannot_alter_the_audit_log(
    proj_db: Any, tenant: TenantData, statement: str, role: str
) -> None:
    with psycopg.connect(getattr(proj_db, role).conninfo) as conn, pytest.raises(
        psycopg.errors.InsufficientPrivilege
    ):
        conn.execute(statement)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events", "TRUNCATE audit_events"],
)
def test_even_the_owner_cannot_alter_the_audit_log(
    proj_db: Any, tenant: TenantData, statement: str
) -> None:
    with psycopg.connect(proj_db.owner.conninfo) as conn, pytest.raises(
        psycopg.errors.InsufficientPrivilege, match="append-only"
    ):
        conn.execute(statement)


def test_a_row_altered_behind_its_back_is_named_by_verify(
    proj_db: Any, tenant: TenantData
) -> None:
    with superuser(proj_db) as su:
        rows = _rows(su, tenant.tenant_id)
        victim_id, victim_seq, original = rows[3]
        # edit one row's details with the triggers off
        su.execute(
            "UPDATE audit_events SET details = details || '{\"forged\": true}' WHERE id = %s",
            (victim_id,),
        )
        try:
            with psycopg.connect(proj_db.system.conninfo) as conn:
                result = verify_chain(conn, tenant.tenant_id)
                everything = verify_chain(conn)
        finally:
            su.execute(
                "UPDATE audit_events SET details = %s WHERE id = %s",
                (psycopg.types.json.Jsonb(original), victim_id),
            )
    assert not result.ok
    assert result.broken is not None
    assert (result.broken.id, result.broken.seq) == (str(victim_id), victim_seq)
    assert "hash" in result.broken.reason
    assert everything.broken is not None
    assert everything.broken.id == str(victim_id)


def test_a_deleted_row_breaks_the_chain_at_its_successor(
    proj_db: Any, tenant: TenantData
) -> None:
    with superuser(proj_db) as su:
        victim_id = _rows(su, tenant.tenant_id)[2][0]
        saved = su.execute("SELECT * FROM audit_events WHERE id = %s", (victim_id,)).fetchone()
        su.execute("DELETE FROM audit_events WHERE id = %s", (victim_id,))
        try:
            with psycopg.connect(proj_db.system.conninfo) as conn:
                result = verify_chain(conn, tenant.tenant_id)
        finally:
            assert saved is not None
            placeholders = ", ".join(["%s"] * len(saved))
            su.execute(
                f"INSERT INTO audit_events VALUES ({placeholders})",
                [psycopg.types.json.Jsonb(v) if isinstance(v, dict) else v for v in saved],
            )
    assert result.broken is not None
    assert result.broken.seq == 4
    assert "missing" in result.broken.reason
    with psycopg.connect(proj_db.system.conninfo) as conn:
        assert verify_chain(conn, tenant.tenant_id).ok


def test_overlong_actor_metadata_never_stops_the_audit_log(
    proj_settings: Any, proj_db: Any, apps: Apps
) -> None:
    # events written by any client (not only our API, which refuses such request ids)
    from domain.identity.commands import CreateTenant
    from domain.kernel.actor import Actor, acting_as

    with acting_as(Actor(kind="user", request_id="r" * 300, user_agent="u" * 5000)):
        made = apps.platform.create_tenant(CreateTenant(name="Long", slug="long-meta"))
    catch_up(proj_settings, proj_db)  # would raise (retried forever in a runner) if refused
    with psycopg.connect(proj_db.system.conninfo) as conn:
        row = conn.execute(
            "SELECT request_id, length(user_agent) FROM audit_events WHERE tenant_id = %s"
            " ORDER BY seq LIMIT 1", (made.tenant.id,),
        ).fetchone()
    assert row == ("r" * 255, 5000)
