"""The database's own defences: row-level security everywhere a tenant's rows live, the API's
role confined to reading the read model, and an audit log that only events can write."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from projections.audit.chain import StoredEvents, verify_chain
from projections.audit.projection import GENESIS
from tests.integration.projections.conftest import Apps, catch_up
from tests.support.doubles import PASSWORD

# The only tables the API's role may write: the login throttle's shared windows.
API_WRITES = {"login_failures"}
ENGINE_TABLES = ("run_tasks", "notification_outbox", "delivery_rate_buckets")

_TENANT_TABLES = """
SELECT c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
       coalesce(array_agg(pg_get_expr(p.polqual, p.polrelid))
                FILTER (WHERE p.polname IS NOT NULL), '{}') AS policies
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
  LEFT JOIN pg_policy p ON p.polrelid = c.oid
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
 GROUP BY c.relname, c.relrowsecurity, c.relforcerowsecurity
"""


# --- issue 13, finding 7: RLS on every table that has tenant_id ----------------------------------


def test_every_table_with_a_tenant_id_is_fenced_by_row_level_security(proj_db: Any) -> None:
    # enumerated from the catalog: a table added later without RLS fails here
    with psycopg.connect(proj_db.owner.conninfo, row_factory=dict_row) as conn:
        tables = conn.execute(_TENANT_TABLES).fetchall()
    names = {t["name"] for t in tables}
    assert set(ENGINE_TABLES) | {"users", "runs", "audit_events"} <= names
    holes = [
        t["name"]
        for t in tables
        if not (t["rls"] and t["forced"] and t["policies"])
        or not all("platinum_current_tenant()" in p for p in t["policies"])
    ]
    assert holes == []


def test_the_api_role_writes_no_table_but_the_login_throttle(proj_db: Any) -> None:
    with psycopg.connect(proj_db.owner.conninfo) as conn:
        writable = {
            name
            for (name,) in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
                " AND has_table_privilege('platinum_api', c.oid,"
                " 'INSERT, UPDATE, DELETE, TRUNCATE')"
            )
        }
    assert writable == API_WRITES


@pytest.mark.parametrize("table", ENGINE_TABLES)
def test_the_api_role_has_no_privilege_on_engine_tables(proj_db: Any, table: str) -> None:
    with psycopg.connect(proj_db.api.conninfo) as conn, pytest.raises(
        psycopg.errors.InsufficientPrivilege
    ):
        conn.execute(f"SELECT * FROM {table} LIMIT 1")


# --- issue 12, finding 17: a forged audit row is reported -----------------------------------------


@dataclass
class Forgery:
    """A database of its own: forged rows must not disturb the other tests' audit logs."""

    settings: Any
    db: Any
    apps: Apps


@pytest.fixture(scope="module")
def forgery(pg_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Forgery]:
    from api.database_setup import upgrade
    from tests.conftest import create_database, drop_database, make_settings
    from tests.integration.projections.conftest import app_classes, open_apps

    info = create_database(pg_server, prefix="platinum_forge")
    settings = make_settings(info, tmp_path_factory.mktemp("forge"))
    db = upgrade(settings, app_classes())
    apps = open_apps(settings, db.system)
    yield Forgery(settings, db, apps)
    apps.close()
    drop_database(pg_server, info)


@pytest.fixture(scope="module")
def audited_tenant(forgery: Forgery) -> tuple[uuid.UUID, str]:
    from domain.identity.commands import CreateTenant

    apps = forgery.apps

    slug = f"forge-{uuid.uuid4().hex[:8]}"
    created = apps.platform.create_tenant(
        CreateTenant(name="Forgery target", slug=slug, admin_email="ada@example.com",
                     admin_password=PASSWORD)
    )  # fmt: skip
    catch_up(forgery.settings, forgery.db)
    return created.tenant.id, slug


def _verify(proj_db: Any, apps: Apps, tenant_id: uuid.UUID) -> Any:
    with psycopg.connect(proj_db.system.conninfo) as conn:
        return verify_chain(conn, tenant_id, events=StoredEvents(apps.by_name()))


def _forge(proj_db: Any, tenant_id: uuid.UUID, **claims: Any) -> uuid.UUID:
    """Insert a row as the system role (the projector's role): the chain trigger links it."""
    row = {
        "id": uuid.uuid4(), "tenant_id": tenant_id, "source": "platform",
        "notification_id": 10**12 + uuid.uuid4().int % 10**9, "originator_id": tenant_id,
        "originator_version": 999, "action": "Tenant.ConfigSet", "resource_type": "tenant",
        "resource_id": str(tenant_id), "details": '{"key": "plan", "value": "free forever"}',
    }  # fmt: skip
    row.update(claims)
    with psycopg.connect(proj_db.system.conninfo) as conn:
        conn.execute(
            "INSERT INTO audit_events (id, tenant_id, source, seq, prev_hash, hash,"
            " notification_id, originator_id, originator_version, action, resource_type,"
            ' resource_id, "timestamp", details)'
            " VALUES (%(id)s, %(tenant_id)s, %(source)s, 0, %(g)s, %(g)s, %(notification_id)s,"
            " %(originator_id)s, %(originator_version)s, %(action)s, %(resource_type)s,"
            " %(resource_id)s, now(), %(details)s)",
            {**row, "g": GENESIS},
        )
    return row["id"]  # type: ignore[no-any-return]


def test_an_audit_log_written_from_events_verifies(
    forgery: Forgery, audited_tenant: tuple[uuid.UUID, str]
) -> None:
    result = _verify(forgery.db, forgery.apps, audited_tenant[0])
    assert result.ok, result.broken
    assert result.events >= 2  # the tenant and its admin


def test_a_forged_audit_row_is_reported_by_audit_verify(
    forgery: Forgery, audited_tenant: tuple[uuid.UUID, str]
) -> None:
    from typer.testing import CliRunner

    from api.cli.main import app

    proj_db, proj_settings, apps = forgery.db, forgery.settings, forgery.apps
    tenant_id, slug = audited_tenant
    # the trigger chains the forged row: the hashes alone cannot tell
    forged = _forge(proj_db, tenant_id)
    with psycopg.connect(proj_db.system.conninfo) as conn:
        assert verify_chain(conn, tenant_id).ok
    # checked against the stored events it is reported
    result = _verify(proj_db, apps, tenant_id)
    assert not result.ok
    assert result.broken is not None
    assert result.broken.id == str(forged)
    assert "no stored event" in result.broken.reason
    # and so does `platinum audit verify`
    env = {
        "DATABASE_URL": proj_settings.database_url,
        "PLATINUM_CIPHER_KEY": proj_settings.cipher_key,
        "PLATINUM_DATA_DIR": str(proj_settings.data_dir),
    }
    out = CliRunner().invoke(app, ["audit", "verify", "--tenant", slug], env=env)
    assert out.exit_code == 1, out.output
    assert str(forged) in out.output


def test_an_audit_row_that_misstates_its_event_is_reported(forgery: Forgery) -> None:
    from domain.identity.commands import CreateTenant

    proj_db, apps = forgery.db, forgery.apps
    # a real event whose audit row has not been written yet: the forger writes it first
    slug = f"forge-{uuid.uuid4().hex[:8]}"
    created = apps.platform.create_tenant(CreateTenant(name="Race target", slug=slug))
    tenant_id = created.tenant.id
    with psycopg.connect(proj_db.system.conninfo) as conn:
        nid = conn.execute(
            "SELECT max(notification_id) FROM platform_events WHERE originator_id = %s",
            (tenant_id,),
        ).fetchone()[0]  # type: ignore[index]
    forged = _forge(proj_db, tenant_id, notification_id=nid, originator_version=1,
                    action="Tenant.Created", details='{"name": "Someone else"}')  # fmt: skip
    result = _verify(proj_db, apps, tenant_id)
    assert not result.ok
    assert result.broken is not None
    assert result.broken.id == str(forged)
    assert "differs from the stored event" in result.broken.reason


# --- issue 12, finding 15: an upgrade never silently mixes clear and encrypted events ---------


def test_upgrade_refuses_a_store_whose_events_the_key_cannot_decrypt(
    pg_server: Any, tmp_path: Any
) -> None:
    from api.composition import application_classes
    from api.database_setup import CipherKeyError, upgrade
    from tests.conftest import create_database, drop_database, make_settings

    info = create_database(pg_server, prefix="platinum_clear")
    try:
        # events written in clear, as DATABASE_URL without PLATINUM_CIPHER_KEY used to store them
        with psycopg.connect(info.conninfo, autocommit=True) as conn:
            conn.execute("CREATE TABLE platform_events (notification_id bigserial, state bytea)")
            conn.execute("INSERT INTO platform_events (state) VALUES (%s)", (b'{"name":"x"}',))
        with pytest.raises(CipherKeyError, match="platform_events"):
            upgrade(make_settings(info, tmp_path), application_classes())
    finally:
        drop_database(pg_server, info)


def test_upgrade_runs_again_on_a_database_in_use(forgery: Forgery) -> None:
    from api.database_setup import upgrade
    from tests.integration.projections.conftest import app_classes

    # `platinum db upgrade` on an existing database: idempotent, and the grants stay tight
    upgrade(forgery.settings, app_classes())
    with psycopg.connect(forgery.db.api.conninfo) as conn, pytest.raises(
        psycopg.errors.InsufficientPrivilege
    ):
        conn.execute("SELECT state FROM platform_events LIMIT 1")
    with psycopg.connect(forgery.db.owner.conninfo, row_factory=dict_row) as conn:
        tables = conn.execute(_TENANT_TABLES).fetchall()
    assert all(t["rls"] and t["forced"] for t in tables)


def test_a_process_without_the_deployments_key_refuses_to_start(
    forgery: Forgery, tmp_path: Any
) -> None:
    from typer.testing import CliRunner

    from api.cli.main import app
    from api.database_setup import CipherKeyError, check_same_cipher_key

    # a worker on another machine, no PLATINUM_CIPHER_KEY: it would generate a key of its own
    elsewhere = forgery.settings.model_copy(update={"cipher_key": None, "data_dir": tmp_path})
    check_same_cipher_key(forgery.db.system.conninfo, forgery.settings)  # the deployment's key
    with pytest.raises(CipherKeyError, match="another cipher key"):
        check_same_cipher_key(forgery.db.system.conninfo, elsewhere)
    # every command that does not upgrade checks it first: one line, exit 1
    env = {"DATABASE_URL": forgery.settings.database_url, "PLATINUM_DATA_DIR": str(tmp_path)}
    out = CliRunner().invoke(app, ["audit", "verify"], env=env)
    assert out.exit_code == 1
    assert "another cipher key" in out.output
