"""The tenant's Merkle tree on PostgreSQL: growth, signing, key rotation, the checkpoint loop."""

from __future__ import annotations

import io
import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.cli.verify import main as verify_main
from domain.audit import merkle
from domain.audit.checkpoint import Signer, new_private_pem, public_pem, verify
from projections.audit.checkpointer import Checkpointer, due
from projections.audit.export import export_events
from projections.audit.tree import (
    KeyConflictError,
    leaf_hashes,
    list_checkpoints,
    make_checkpoint,
    public_keys,
    register_key,
)
from tests.integration.projections.conftest import (
    Apps,
    TenantData,
    catch_up,
    populate_tenant,
    publish_skill,
)
from tests.support.polling import wait_until

PREFIX = "test.local/audit"


@pytest.fixture(scope="module")
def tenant(proj_settings: Any, proj_db: Any, apps: Apps) -> TenantData:
    data = populate_tenant(apps, publish_skill(apps))
    catch_up(proj_settings, proj_db)
    return data


def _system(proj_db: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(proj_db.system.conninfo, autocommit=True)


def _grow(proj_settings: Any, proj_db: Any, apps: Apps, tenant: TenantData) -> None:
    """More audited events in the tenant: preferences set by its admin."""
    from domain.identity.commands import SetPreference

    for _ in range(3):  # a new key each time: a new event each time
        key = f"grow.{uuid.uuid4().hex[:8]}"
        apps.platform.set_preference(SetPreference(tenant.tenant_id, tenant.admin_id, key, "x"))
    catch_up(proj_settings, proj_db)


def test_a_checkpoint_covers_every_row_and_nothing_new_signs_nothing(
    proj_db: Any, tenant: TenantData
) -> None:
    signer = Signer.from_pem("k1", new_private_pem())
    with _system(proj_db) as conn:
        first = make_checkpoint(conn, tenant.tenant_id, signer, PREFIX)
        rows = conn.execute(
            "SELECT count(*) FROM audit_events WHERE tenant_id = %s", (tenant.tenant_id,)
        ).fetchone()
        again = make_checkpoint(conn, tenant.tenant_id, signer, PREFIX)
        hashes = leaf_hashes(conn, tenant.tenant_id, first.tree_size)
    assert rows is not None
    assert first.tree_size == rows[0] > 0
    assert again == first
    assert merkle.root(hashes).hex() == first.root_hash
    cp, name = verify(first.note, [signer.public_key])
    assert (cp.origin, cp.tree_size, name) == (f"{PREFIX}/{tenant.tenant_id}", rows[0], "k1")


def test_the_tree_and_its_checkpoints_are_append_only(proj_db: Any, tenant: TenantData) -> None:
    with _system(proj_db) as conn:
        make_checkpoint(conn, tenant.tenant_id, Signer.from_pem("k1b", new_private_pem()), PREFIX)
        statements = ("UPDATE audit_tree_leaves SET seq = seq", "DELETE FROM audit_checkpoints",
                      "TRUNCATE audit_signing_keys")  # fmt: skip
        for statement in statements:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_old_checkpoints_verify_with_the_old_key_after_a_rotation(
    proj_settings: Any, proj_db: Any, apps: Apps, tenant: TenantData, tmp_path: Path
) -> None:
    old, new = (Signer.from_pem(k, new_private_pem()) for k in ("2026-old", "2026-new"))
    _grow(proj_settings, proj_db, apps, tenant)
    with _system(proj_db) as conn:
        before = make_checkpoint(conn, tenant.tenant_id, old, PREFIX)
    assert before.key_id == "2026-old"
    _grow(proj_settings, proj_db, apps, tenant)
    with _system(proj_db) as conn:
        after = make_checkpoint(conn, tenant.tenant_id, new, PREFIX)
        listed = {k["key_id"]: k["public_key_pem"] for k in public_keys(conn)}
        out = io.StringIO()
        export_events(conn, tenant.tenant_id, after, out)
    assert after.tree_size > before.tree_size
    assert listed["2026-old"] == public_pem(old.public_key)
    assert listed["2026-new"] == public_pem(new.public_key)
    # the auditor kept the old checkpoint; the export is signed by the new key
    export, kept = tmp_path / "export.ndjson", tmp_path / "kept.note"
    export.write_text(out.getvalue(), encoding="utf-8")
    kept.write_text(before.note, encoding="utf-8")
    keys = tmp_path / "keys.pem"
    keys.write_text(listed["2026-old"] + listed["2026-new"])
    assert verify_main([str(export), "--key", str(keys), "--checkpoint", str(kept)]) == 0
    only_new = tmp_path / "new.pem"
    only_new.write_text(listed["2026-new"])
    assert verify_main([str(export), "--key", str(only_new), "--checkpoint", str(kept)]) == 1


def test_processes_signing_one_tenant_at_once_sign_each_size_once(
    proj_settings: Any, proj_db: Any, apps: Apps, tenant: TenantData
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    _grow(proj_settings, proj_db, apps, tenant)
    signer = Signer.from_pem("race", new_private_pem())

    def sign(_: int) -> int:
        with _system(proj_db) as conn:
            return make_checkpoint(conn, tenant.tenant_id, signer, PREFIX).tree_size

    with ThreadPoolExecutor(4) as pool:
        sizes = set(pool.map(sign, range(4)))
    with _system(proj_db) as conn:
        signed = [c.tree_size for c in list_checkpoints(conn, tenant.tenant_id, limit=1000)]
    assert len(sizes) == 1  # one signed the new rows; the others found nothing new
    assert len(signed) == len(set(signed))


def test_a_key_id_names_one_key_only(proj_db: Any) -> None:
    with _system(proj_db) as conn:
        register_key(conn, Signer.from_pem("unique-id", new_private_pem()))
        with pytest.raises(KeyConflictError):
            register_key(conn, Signer.from_pem("unique-id", new_private_pem()))


@pytest.mark.parametrize(
    ("rows", "size", "age", "expected"),
    [(10, 10, 999.0, False), (11, 10, 1.0, False), (20, 10, 1.0, True), (11, 10, 61.0, True),
     (1, 0, None, True)],
)  # fmt: skip
def test_a_tenant_is_due_every_n_rows_or_t_seconds(
    rows: int, size: int, age: float | None, expected: bool
) -> None:
    assert due(rows, size, age, every_rows=10, every_s=60.0) is expected


def test_the_loop_signs_new_rows_and_outlives_a_database_outage(
    proj_settings: Any, proj_db: Any, apps: Apps, tenant: TenantData
) -> None:
    signer = Signer.from_pem("loop", new_private_pem())
    state = {"down": True, "failed": 0}

    def connect() -> AbstractContextManager[Any]:
        if state["down"]:  # the database is away: every pass fails until it is back
            state["failed"] += 1
            raise psycopg.OperationalError("connection refused")
        return _system(proj_db)

    _grow(proj_settings, proj_db, apps, tenant)
    loop = Checkpointer(connect, lambda: signer, PREFIX, every_rows=1, every_s=0.5).start()
    try:
        wait_until(lambda: state["failed"] >= 2)
        assert loop.liveness()["ok"]  # an outage is not a dead loop
        state["down"] = False
        with _system(proj_db) as conn:
            wait_until(  # none at first: the loop may not have signed yet
                lambda: [c.key_id for c in list_checkpoints(conn, tenant.tenant_id, limit=1)]
                == ["loop"]
            )
            latest = list_checkpoints(conn, tenant.tenant_id, limit=1)[0]
            rows = conn.execute(
                "SELECT count(*) FROM audit_events WHERE tenant_id = %s", (tenant.tenant_id,)
            ).fetchone()
    finally:
        loop.stop()
    assert rows is not None
    assert latest.tree_size == rows[0]
    assert loop.liveness()["loops"]["checkpoint"]["alive"] is False  # stopped


# values whose text PostgreSQL's jsonb and inet print their own way: decimals, exponents,
# escapes, non-ASCII, key order by length, nested structures, IPv4 and IPv6 addresses
AWKWARD = [
    ({"b": 1.50, "a": 1e-7, "ccc": 1e21, "dd": -0.0, "big": 12345678901234567890}, "10.0.0.1"),
    ({"text": "tab\there \"quoted\" \\ \u0001 \u2028 é 😀", "": None, "list": [True, False, {}]},
     "::ffff:1.2.3.4"),
    ({"z": {"yy": [], "x": {"wwww": 0.1, "v": [1, [2, [3]]]}}}, "2001:db8::1"),
    (None, None),
]  # fmt: skip


def test_awkward_values_rebuild_offline_to_the_bytes_the_database_hashed(
    proj_db: Any, tmp_path: Path
) -> None:
    from psycopg.types.json import Jsonb

    # a source of their own: the session's other tests count the platform's and runs' rows
    tenant = uuid.uuid4()
    signer = Signer.from_pem("awkward", new_private_pem())
    with _system(proj_db) as conn:
        for i, (details, ip) in enumerate(AWKWARD, start=1):
            conn.execute(
                "INSERT INTO audit_events (id, tenant_id, source, seq, prev_hash, hash,"
                " notification_id, originator_id, originator_version, action, resource_type,"
                ' resource_id, ip_address, user_agent, "timestamp", details) VALUES (%s, %s,'
                " 'awkward', 0, repeat('0', 64), repeat('0', 64), 900000000 + %s, %s, 1,"
                " 'Thing.Done', 'thing/x', %s, %s, %s, now(), %s)",
                (uuid.uuid4(), tenant, uuid.uuid4().int % 10**8 + i, uuid.uuid4(),
                 None if i == 2 else "", ip, "agent \u00e9", None if details is None
                 else Jsonb(details)),
            )  # fmt: skip
        cp = make_checkpoint(conn, tenant, signer, PREFIX)
        out = io.StringIO()
        export_events(conn, tenant, cp, out)
    export = tmp_path / "awkward.ndjson"
    export.write_text(out.getvalue(), encoding="utf-8")
    key = tmp_path / "awkward.pem"
    key.write_text(public_pem(signer.public_key))
    assert cp.tree_size == len(AWKWARD)
    assert verify_main([str(export), "--key", str(key)]) == 0
