"""``platinum db upgrade``: roles, event store tables, read-model migrations. Idempotent."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

import psycopg
from psycopg import sql

from api.database import API_ROLE, SYSTEM_ROLE, ConnInfo, Database, admin_conninfo, database_for
from api.settings import Settings

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent



def event_tables(app_classes: Iterable[type]) -> list[str]:
    """The library's events table per application (its name lower-cased + ``_events``)."""
    return [f"{cls.name.lower()}_events" for cls in app_classes]  # type: ignore[attr-defined]


def snapshot_tables(app_classes: Iterable[type]) -> list[str]:
    """The library's snapshots table per application (name lower-cased + ``_snapshots``)."""
    return [f"{cls.name.lower()}_snapshots" for cls in app_classes]  # type: ignore[attr-defined]


def ensure_roles(admin: ConnInfo, settings: Settings) -> None:
    """The service's login roles. Neither owns tables; only the system role bypasses RLS."""
    wanted = {
        API_ROLE: ("NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE", settings.api_role_password),
        SYSTEM_ROLE: (
            "NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE",
            settings.system_role_password,
        ),
    }
    with psycopg.connect(admin.conninfo, autocommit=True) as conn:
        for role, (attrs, password) in wanted.items():
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                # A concurrent upgrade may create it first: roles are cluster-wide.
                with contextlib.suppress(
                    psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation
                ):
                    conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            stmt = sql.SQL("ALTER ROLE {} LOGIN " + attrs).format(sql.Identifier(role))
            if password:
                stmt += sql.SQL(" PASSWORD {}").format(sql.Literal(password))
            # "tuple concurrently updated": another upgrade ran the same ALTER at the same time.
            with contextlib.suppress(psycopg.errors.InternalError_):
                conn.execute(stmt)
        conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}, {}").format(
                sql.Identifier(admin.dbname), sql.Identifier(API_ROLE), sql.Identifier(SYSTEM_ROLE)
            )
        )
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA public TO {}, {}").format(
                sql.Identifier(API_ROLE), sql.Identifier(SYSTEM_ROLE)
            )
        )


def create_event_tables(db: Database, settings: Settings, app_classes: Iterable[type]) -> None:
    """Let the library create its tables (as the owner), once, before any service starts."""
    env = db.owner.eventsourcing_env(settings, create_table=True)
    for cls in app_classes:
        app = cls(env=env)
        app.close()


def seed_builtin_roles(db: Database, settings: Settings) -> None:
    """The four built-in roles (admin, manager, user, viewer) exist once the database is up."""
    from domain.platform import Platform

    platform = Platform(env=db.system.eventsourcing_env(settings))
    try:
        platform.seed_builtin_roles()
    finally:
        platform.close()


def create_tracking_tables(db: Database, settings: Settings, names: Iterable[str]) -> list[str]:
    """The library's tracking tables, one per projection, created by the owner."""
    from api.background import projection_view

    tables = []
    for name in names:
        view = projection_view(settings, db.owner, name, create=True)
        tables.append(view.tracking_table_name)
        view.datastore.close()
    return tables


def grant_tracking_tables(owner: ConnInfo, tables: Iterable[str]) -> None:
    with psycopg.connect(owner.conninfo, autocommit=True) as conn:
        for table in tables:
            ident = sql.Identifier(table)
            conn.execute(
                sql.SQL("GRANT SELECT ON {} TO {}").format(ident, sql.Identifier(API_ROLE))
            )
            conn.execute(
                sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(
                    ident, sql.Identifier(SYSTEM_ROLE)
                )
            )


def harden_event_tables(owner: ConnInfo, tables: Iterable[str]) -> None:
    """Events and snapshots are append-only: a trigger rejects UPDATE/DELETE/TRUNCATE, even for
    the owner. Only the system role reads and appends them; the API's role has no privilege on
    them at all (the API process reads and writes events through applications on the system
    role; history is fenced by tenant in ``projections.audit.history``).

    UPDATE stays granted on events tables: the library's writer takes LOCK TABLE ... IN
    EXCLUSIVE MODE, which requires it. The trigger is what makes the table append-only.
    """
    api, system = sql.Identifier(API_ROLE), sql.Identifier(SYSTEM_ROLE)
    roles = sql.SQL("{}, {}").format(api, system)
    with psycopg.connect(owner.conninfo, autocommit=True) as conn:
        conn.execute(
            """
            CREATE OR REPLACE FUNCTION platinum_reject_mutation() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
              RAISE EXCEPTION 'table % is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
            END $$
            """
        )
        for table in tables:
            ident = sql.Identifier(table)
            exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
            if not exists or exists[0] is None:
                continue
            for name, when in (
                ("append_only_rows", "BEFORE UPDATE OR DELETE ON {} FOR EACH ROW"),
                ("append_only_truncate", "BEFORE TRUNCATE ON {} FOR EACH STATEMENT"),
            ):
                trig = sql.Identifier(f"{table}_{name}")
                conn.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(trig, ident))
                conn.execute(
                    sql.SQL(
                        "CREATE TRIGGER {} " + when + " EXECUTE FUNCTION platinum_reject_mutation()"
                    ).format(trig, ident)
                )
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(ident, roles))
            events = table.endswith("_events")
            privileges = "SELECT, INSERT, UPDATE" if events else "SELECT, INSERT"
            conn.execute(sql.SQL("GRANT " + privileges + " ON {} TO {}").format(ident, system))
            if not events:
                continue
            seq = conn.execute(
                "SELECT pg_get_serial_sequence(%s, 'notification_id')", (table,)
            ).fetchone()
            if seq and seq[0]:
                name_ = sql.SQL(seq[0])
                conn.execute(sql.SQL("REVOKE ALL ON SEQUENCE {} FROM {}").format(name_, roles))
                conn.execute(
                    sql.SQL("GRANT USAGE, SELECT ON SEQUENCE {} TO {}").format(name_, system)
                )
        # The library's insert function (SECURITY INVOKER: it needs the table's grants too).
        conn.execute(
            sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {}").format(system)
        )


class CipherKeyError(RuntimeError):
    """The cipher key in use is not the one the database's events were written with."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(
            f"{what}. Set PLATINUM_CIPHER_KEY (or PLATINUM_DATA_DIR's cipher.key) to the key"
            " the events were written with (docs/security.md, Database)."
        )


def key_fingerprint(key: str) -> str:
    """What ``cipher_key_check`` stores: an HMAC of a constant under the key (reveals nothing)."""
    import base64
    import hashlib
    import hmac

    raw = base64.b64decode(key.encode())
    return hmac.new(raw, b"platinum cipher key check v1", hashlib.sha256).hexdigest()


def record_cipher_key(owner: ConnInfo, settings: Settings) -> None:
    """Store the key's fingerprint on the first upgrade; on later ones, refuse another key."""
    mine = key_fingerprint(settings.resolved_cipher_key())
    with psycopg.connect(owner.conninfo, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO cipher_key_check (fingerprint) VALUES (%s) ON CONFLICT DO NOTHING",
            (mine,),
        )
        row = conn.execute("SELECT fingerprint FROM cipher_key_check").fetchone()
    if row is None or row[0] != mine:
        raise CipherKeyError("this database's events were written with another cipher key")


def check_same_cipher_key(conninfo: str, settings: Settings) -> None:
    """A process that does not upgrade (worker, projector, dispatcher, CLI) checks, before it
    starts, that it holds the deployment's key: CipherKeyError otherwise. A database that was
    never upgraded has no fingerprint yet: nothing to compare."""
    mine = key_fingerprint(settings.resolved_cipher_key())
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('cipher_key_check')").fetchone() in (None, (None,)):
            return
        row = conn.execute("SELECT fingerprint FROM cipher_key_check").fetchone()
    if row is not None and row[0] != mine:
        raise CipherKeyError("this database's events were written with another cipher key")


def check_cipher_key(owner: ConnInfo, settings: Settings, tables: Iterable[str]) -> None:
    """Refuse to go on when the newest stored event cannot be decrypted with the key in use:
    events written in clear (before encryption was always on) or with another key. Going on
    would only fail later, on the first read of each aggregate."""
    from eventsourcing.cryptography import AESCipher
    from eventsourcing.utils import Environment

    cipher = AESCipher(Environment(env={"CIPHER_KEY": settings.resolved_cipher_key()}))
    with psycopg.connect(owner.conninfo, autocommit=True) as conn:
        for table in tables:
            exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
            if not exists or exists[0] is None:
                continue
            query = sql.SQL("SELECT state FROM {} ORDER BY notification_id DESC LIMIT 1")
            row = conn.execute(query.format(sql.Identifier(table))).fetchone()
            if row is None:
                continue
            try:
                cipher.decrypt(bytes(row[0]))
            except ValueError:
                raise CipherKeyError(
                    f"the events in {table} cannot be decrypted with the cipher key in use:"
                    " they were written in clear or with another key"
                ) from None


def alembic_config(owner: ConnInfo) -> object:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "api" / "migrations"))
    cfg.set_main_option(
        "version_locations",
        " ".join(
            str(ROOT / p / "migrations" / "versions") for p in ("api", "projections", "engine")
        ),
    )
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["conninfo"] = owner
    return cfg


RETIRED_REVISIONS = frozenset({"engine_0001"})
"""Revisions that no longer exist: the engine branch's empty root (its two children made the
branch fork; ``engine_runtime_0001`` is the root now and ``engine_0002`` follows it)."""


def tidy_version_table(owner: ConnInfo, cfg: object) -> None:
    """Make a database migrated by an older layout agree with today's revision graph.

    Drops retired revisions and any recorded head that is now an ancestor of another recorded
    head (the engine branch's two former heads are one line now), so ``upgrade heads`` sees
    each branch once.
    """
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(cfg)  # type: ignore[arg-type]
    with psycopg.connect(owner.conninfo, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('alembic_version')").fetchone() == (None,):
            return
        recorded = {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")}
        known = {r for r in recorded if r not in RETIRED_REVISIONS}
        below = set()
        for head in known:
            below |= {
                rev.revision for rev in script.walk_revisions("base", head) if rev.revision != head
            }
        drop = (recorded - known) | (known & below)
        if drop:
            conn.execute(
                "DELETE FROM alembic_version WHERE version_num = ANY(%s)", (sorted(drop),)
            )


def run_migrations(owner: ConnInfo) -> None:
    from alembic import command

    cfg = alembic_config(owner)
    tidy_version_table(owner, cfg)
    command.upgrade(cfg, "heads")  # type: ignore[arg-type]


def upgrade(settings: Settings, app_classes: Iterable[type] = ()) -> Database:
    """Bring the database to the current schema. Safe to run again; run it before scaling out."""
    admin = admin_conninfo(settings)
    db = database_for(settings, admin)
    ensure_roles(admin, settings)
    app_classes = list(app_classes)
    check_cipher_key(admin, settings, event_tables(app_classes))
    create_event_tables(db, settings, app_classes)
    harden_event_tables(admin, event_tables(app_classes) + snapshot_tables(app_classes))
    run_migrations(admin)
    record_cipher_key(admin, settings)
    from projections.registry import PROCESSES, PROJECTIONS

    grant_tracking_tables(admin, create_tracking_tables(db, settings, [*PROJECTIONS, *PROCESSES]))
    seed_builtin_roles(db, settings)
    return db
