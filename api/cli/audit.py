"""``platinum audit verify|export|checkpoint|rebuild``: chains, export, checkpoints, rebuild."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import configure_logging, database, fail, settings

app = typer.Typer(help="Audit log: verify hash chains, export events.", no_args_is_help=True)


def _tenant_by_slug(conninfo: str, slug: str) -> str:
    import psycopg

    from projections.queries.tenants import tenant_id_by_slug

    with psycopg.connect(conninfo) as conn:
        tenant_id = tenant_id_by_slug(conn, slug)
    if tenant_id is None:
        raise fail(f"no tenant with slug {slug!r}")
    return str(tenant_id)


@app.command("verify")
def audit_verify(
    tenant: Annotated[
        str | None, typer.Option(help="Tenant slug; every chain when omitted.")
    ] = None,
) -> None:
    """Recompute the audit hash chains; exit 1 naming the first broken link."""
    import json

    import psycopg

    from api.composition import application_classes
    from projections.audit.chain import StoredEvents, verify_chain

    current = settings()
    configure_logging("WARNING")
    db = database(current)
    tenant_id = _tenant_by_slug(db.system.conninfo, tenant) if tenant else None
    # every row is checked against the stored (decrypted) event it claims to come from
    small = current.model_copy(update={"pool_size": 1, "pool_max_overflow": 1})
    env = db.system.eventsourcing_env(small)
    apps = {c.name.lower(): c(env=env) for c in application_classes()}
    try:
        with psycopg.connect(db.system.conninfo) as conn:
            result = verify_chain(conn, tenant_id, events=StoredEvents(apps))
    finally:
        for a in apps.values():
            a.close()
    typer.echo(json.dumps(result.as_dict(), indent=2))
    if result.broken is not None:
        b = result.broken
        raise fail(f"audit chain broken at row {b.id} (seq {b.seq}, {b.source}): {b.reason}")


@contextmanager
def _checkpointed(tenant: str) -> Iterator[tuple[Any, str, Any]]:
    """A system connection, the tenant's id and a checkpoint signed now over its audit tree."""
    import psycopg

    from api.routes.audit import audit_signer
    from projections.audit.tree import make_checkpoint

    configure_logging("WARNING")
    current = settings()
    db = database(current)
    tenant_id = _tenant_by_slug(db.system.conninfo, tenant)
    with psycopg.connect(db.system.conninfo, autocommit=True) as conn:
        yield conn, tenant_id, make_checkpoint(
            conn, tenant_id, audit_signer(current), current.audit_log_origin
        )


@app.command("export")
def audit_export(
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
    out: Annotated[Path | None, typer.Option(help="Write NDJSON here instead of stdout.")] = None,
) -> None:
    """Export a tenant's audit events as NDJSON CloudEvents, ending with a fresh checkpoint."""
    from projections.audit.export import export_events

    with _checkpointed(tenant) as (conn, tenant_id, cp):
        if out is None:
            n = export_events(conn, tenant_id, cp, sys.stdout)
        else:
            with out.open("w", encoding="utf-8") as f:
                n = export_events(conn, tenant_id, cp, f)
    typer.echo(f"exported {n} events", err=True)


@app.command("checkpoint")
def audit_checkpoint(tenant: Annotated[str, typer.Option(help="Tenant slug.")]) -> None:
    """Sign the tenant's audit tree now; print the signed note (keep it to verify later)."""
    with _checkpointed(tenant) as (_, _, cp):
        typer.echo(cp.note, nl=False)


@app.command("rebuild")
def audit_rebuild() -> None:
    """Recompute the audit log from the events (owner only: empties the append-only log)."""
    from api.background import build_projection_runners
    from projections.audit.projection import reset_audit_log

    current = settings()
    configure_logging("WARNING")
    db = database(current)
    reset_audit_log(db.owner.conninfo)
    runners = build_projection_runners(current, db, names=["audit"])
    total = 0
    for runner in runners:
        total += runner.catch_up()
        runner.app.close()
    typer.echo(f"audit log rebuilt from {total} events", err=True)
