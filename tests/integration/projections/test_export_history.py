"""Auditors' reads: NDJSON CloudEvents export and aggregate history, both fenced by tenant."""

from __future__ import annotations

import hashlib
import io
import ipaddress
import itertools
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.cli.verify import main as verify_main
from domain.audit.canonical import render_line, row_canonical
from domain.audit.checkpoint import Signer, new_private_pem, public_pem
from projections.audit.export import export_events, iter_cloudevents
from projections.audit.history import HistoryNotFoundError, aggregate_events, state_as_of
from projections.audit.tree import StoredCheckpoint, make_checkpoint
from tests.integration.projections.conftest import (
    Apps,
)

SIGNER = Signer.from_pem("test-key", new_private_pem())


def _sign(conn: psycopg.Connection[Any], tenant_id: Any) -> StoredCheckpoint:
    """A checkpoint now: the export is of the rows in the tenant's tree."""
    return make_checkpoint(conn, tenant_id, SIGNER, "test.local/audit")


def _export(proj_db: Any, conninfo: str, tenant_id: Any, rls_tenant: Any = None) -> list[Any]:
    with psycopg.connect(proj_db.system.conninfo, autocommit=True) as conn:
        size = _sign(conn, tenant_id).tree_size
    with psycopg.connect(conninfo) as conn:
        if rls_tenant is not None:
            conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(rls_tenant),))
        return [json.loads(line) for line in iter_cloudevents(conn, tenant_id, size, batch=7)]


def test_export_is_ndjson_cloudevents_of_one_tenant(proj_db: Any, two_tenants: Any) -> None:
    a, b = two_tenants
    events = _export(proj_db, proj_db.system.conninfo, a.tenant_id)
    with psycopg.connect(proj_db.system.conninfo) as conn:
        count = conn.execute(
            "SELECT count(*) FROM audit_events WHERE tenant_id = %s", (a.tenant_id,)
        ).fetchone()
    assert count is not None
    assert len(events) == count[0]
    assert {e["tenantid"] for e in events} == {str(a.tenant_id)}
    required = {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"}
    assert all(required <= e.keys() and e["specversion"] == "1.0" for e in events)
    assert {e["source"] for e in events} == {"/platinum/platform", "/platinum/runs"}
    types = {e["type"] for e in events}
    assert {"com.platinum.Tenant.Created", "com.platinum.Run.Started"} <= types
    assert not any(str(b.tenant_id) in json.dumps(e) for e in events)
    # each chain's links are in the export, in order
    platform = [e for e in events if e["source"] == "/platinum/platform"]
    assert [e["platinumseq"] for e in platform] == list(range(1, len(platform) + 1))
    assert all(x["platinumhash"] == y["platinumprevhash"] for x, y in itertools.pairwise(platform))


def test_export_on_the_api_role_cannot_reach_another_tenant(proj_db: Any, two_tenants: Any) -> None:
    a, b = two_tenants
    assert _export(proj_db, proj_db.api.conninfo, b.tenant_id, rls_tenant=a.tenant_id) == []
    assert _export(proj_db, proj_db.api.conninfo, a.tenant_id, rls_tenant=a.tenant_id)


# What a writer could choose and put into an audit row: any text PostgreSQL stores (no NUL).
_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=40)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    action=_text.filter(bool),
    resource_id=st.none() | _text,
    user_agent=st.none() | _text,
    request_id=st.none() | _text,
    actor_kind=st.none() | _text,
    details=_json,
    ip=st.none() | st.ip_addresses().map(str),
    with_user=st.booleans(),
)
def test_each_exported_line_is_its_audit_row_as_json(
    proj_db: Any,
    action: str,
    resource_id: str | None,
    user_agent: str | None,
    request_id: str | None,
    actor_kind: str | None,
    details: Any,
    ip: str | None,
    with_user: bool,
) -> None:
    """The export renders JSON by text concatenation: quotes, backslashes, control and
    non-ASCII characters in any writer-chosen column must still come out as valid JSON that
    reads back as the row."""
    import uuid
    from datetime import UTC, datetime

    from psycopg.types.json import Jsonb

    tenant, originator = uuid.uuid4(), uuid.uuid4()
    user = uuid.uuid4() if with_user else None
    at = datetime(2026, 11, 24, 20, 1, 2, 345678, tzinfo=UTC)
    with psycopg.connect(proj_db.system.conninfo) as conn:
        row = conn.execute(
            "INSERT INTO audit_events (id, tenant_id, source, seq, prev_hash, hash,"
            " notification_id, originator_id, originator_version, action, resource_type,"
            " resource_id, user_id, actor_kind, ip_address, user_agent, request_id,"
            " \"timestamp\", details) VALUES (%s, %s, 'platform', 1, repeat('0', 64),"
            " repeat('0', 64), (SELECT coalesce(max(notification_id), 0) + 1000000"
            " FROM audit_events), %s, 1, %s, 'thing', %s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING seq, prev_hash, hash",
            (
                uuid.uuid4(),
                tenant,
                originator,
                action,
                resource_id,
                user,
                actor_kind,
                ip,
                user_agent,
                request_id,
                at,
                Jsonb(details),
            ),
        ).fetchone()
        assert row is not None
        (line,) = list(iter_cloudevents(conn, tenant, _sign(conn, tenant).tree_size))
    assert line.endswith("}\n")
    assert "\n" not in line[:-1]
    event = json.loads(line)
    # an address compares as an address (PostgreSQL writes ::ffff:0:0 as ::ffff:0.0.0.0)
    if ip is not None:
        assert ipaddress.ip_address(event["actorip"]) == ipaddress.ip_address(ip)
        ip = event["actorip"]
    optional = {
        "actorid": str(user) if user else None,
        "actorkind": actor_kind,
        "actorip": ip,
        "useragent": user_agent,
        "requestid": request_id,
    }
    assert {k: event.get(k) for k in optional} == optional
    assert optional.keys() - event.keys() == {k for k, v in optional.items() if v is None}
    assert event["type"] == f"com.platinum.{action}"
    assert event["subject"] == f"thing/{resource_id or ''}"
    assert event["data"] == details
    assert event["time"] == "2026-11-24T20:01:02.345678Z"
    assert (event["tenantid"], event["aggregateid"], event["aggregateversion"]) == (
        str(tenant),
        str(originator),
        1,
    )
    assert (event["platinumseq"], event["platinumprevhash"], event["platinumhash"]) == row
    # the offline verifier rebuilds the line and the row's hash from the line alone
    parsed = json.loads(line, parse_float=Decimal)
    assert render_line(parsed)[0] == line[:-1]
    assert hashlib.sha256(row_canonical(parsed)).hexdigest() == row[2]


def test_export_writes_to_a_file_like(proj_db: Any, two_tenants: Any) -> None:
    a, _ = two_tenants
    out = io.StringIO()
    with psycopg.connect(proj_db.system.conninfo, autocommit=True) as conn:
        n = export_events(conn, a.tenant_id, _sign(conn, a.tenant_id), out)
    assert n + 1 == len(out.getvalue().splitlines()) > 1  # the rows, then their checkpoint


def test_history_lists_an_aggregates_events_in_order(
    apps: Apps, proj_db: Any, two_tenants: Any
) -> None:
    a, _ = two_tenants
    with psycopg.connect(proj_db.system.conninfo) as conn:
        events = aggregate_events(apps.by_name(), conn, a.tenant_id, a.workflow_id)
    assert [e.type for e in events] == [
        "Workflow.Created", "Workflow.DefinitionUpdated", "Workflow.StatusChanged",
    ]  # fmt: skip
    assert [e.version for e in events] == [1, 2, 3]
    assert events[0].meta["request_id"] == f"req-{a.slug}"


def test_history_redacts_credentials(apps: Apps, proj_db: Any, two_tenants: Any) -> None:
    a, _ = two_tenants
    with psycopg.connect(proj_db.system.conninfo) as conn:
        events = aggregate_events(apps.by_name(), conn, a.tenant_id, a.user_id)
        state = state_as_of(apps.by_name(), conn, a.tenant_id, a.user_id)
    assert events[0].data["password_hash"] == "********"
    assert state.state["password_hash"] == "********"


def test_state_as_of_a_version_and_a_time(apps: Apps, proj_db: Any, two_tenants: Any) -> None:
    a, _ = two_tenants
    by_name = apps.by_name()
    with psycopg.connect(proj_db.system.conninfo) as conn:
        first = state_as_of(by_name, conn, a.tenant_id, a.workflow_id, version=1)
        now = state_as_of(by_name, conn, a.tenant_id, a.workflow_id)
        at_creation = state_as_of(by_name, conn, a.tenant_id, a.workflow_id, at=first.time)
        run = state_as_of(by_name, conn, a.tenant_id, a.run_ids[0], version=1,
                          resource_type="run")  # fmt: skip
        with pytest.raises(HistoryNotFoundError):
            state_as_of(by_name, conn, a.tenant_id, a.workflow_id,
                        at=first.time - timedelta(seconds=1))  # fmt: skip
        with pytest.raises(HistoryNotFoundError):
            state_as_of(by_name, conn, a.tenant_id, a.workflow_id, version=99)
    assert (first.version, len(first.state["versions"]), first.state["status"]) == (1, 1, "draft")
    assert (now.version, len(now.state["versions"]), now.state["status"]) == (3, 2, "active")
    assert at_creation.version == 1
    assert run.type == "run"
    assert run.state["status"] == "running"


def test_history_is_fenced_by_tenant(apps: Apps, proj_db: Any, two_tenants: Any) -> None:
    a, b = two_tenants
    with psycopg.connect(proj_db.system.conninfo) as conn:
        with pytest.raises(HistoryNotFoundError):
            aggregate_events(apps.by_name(), conn, b.tenant_id, a.workflow_id)
        with pytest.raises(HistoryNotFoundError):
            state_as_of(apps.by_name(), conn, b.tenant_id, a.user_id)
        with pytest.raises(HistoryNotFoundError):  # right tenant, wrong resource type
            aggregate_events(apps.by_name(), conn, a.tenant_id, a.workflow_id,
                             resource_type="user")  # fmt: skip
    # on the API's role, RLS fences too: tenant A's session cannot see B's aggregate
    with psycopg.connect(proj_db.api.conninfo) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(a.tenant_id),))
        with pytest.raises(HistoryNotFoundError):
            aggregate_events(apps.by_name(), conn, b.tenant_id, b.workflow_id)
        assert aggregate_events(apps.by_name(), conn, a.tenant_id, a.workflow_id)


def test_cli_verify_and_export(
    proj_settings: Any, proj_db: Any, two_tenants: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    from typer.testing import CliRunner

    from api.cli.main import app

    a, _ = two_tenants
    monkeypatch.setenv("DATABASE_URL", proj_settings.database_url)
    # verify decrypts every event its rows claim: the deployment's key
    monkeypatch.setenv("PLATINUM_CIPHER_KEY", proj_settings.cipher_key)
    monkeypatch.setenv("PLATINUM_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    verified = runner.invoke(app, ["audit", "verify", "--tenant", a.slug])
    assert verified.exit_code == 0, verified.output
    assert '"ok": true' in verified.output
    out = tmp_path / "a.ndjson"
    exported = runner.invoke(app, ["audit", "export", "--tenant", a.slug, "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    lines = out.read_text().splitlines()
    assert lines
    assert all(json.loads(x)["tenantid"] == str(a.tenant_id) for x in lines)
    assert json.loads(lines[-1])["type"] == "com.platinum.audit.Checkpoint"
    # signed with the key generated into the data folder (or, with no row new since this
    # module's own checkpoints, SIGNER's): the export verifies offline with the public keys
    signer = Signer.from_pem(None, (tmp_path / "audit-signing.key").read_text())
    keys = public_pem(signer.public_key) + public_pem(SIGNER.public_key)
    (tmp_path / "audit.pem").write_text(keys)
    assert verify_main([str(out), "--key", str(tmp_path / "audit.pem")]) == 0
    signed = runner.invoke(app, ["audit", "checkpoint", "--tenant", a.slug])
    assert signed.exit_code == 0, signed.output
    assert signed.output.split("\n")[0].endswith(f"/audit/{a.tenant_id}")  # the tenant's log
    unknown = runner.invoke(app, ["audit", "export", "--tenant", "no-such-tenant"])
    assert unknown.exit_code == 1
