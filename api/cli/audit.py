"""``platinum audit verify|export|checkpoint|rebuild`` (on the database) and ``audit history``
(through the HTTP API): chains, export, checkpoints, rebuild, an aggregate's history."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import configure_logging, database, fail, settings, stderr_progress
from api.cli.remote import AsJson, Token, Url, connected, print_json

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
        with psycopg.connect(db.system.conninfo) as conn, stderr_progress() as progress:
            task = progress.add_task("verifying audit rows", total=None)
            result = verify_chain(conn, tenant_id, events=StoredEvents(apps),
                                  on_batch=lambda n: progress.advance(task, n))  # fmt: skip
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
    from projections.audit.export import iter_verifiable_export

    with _checkpointed(tenant) as (conn, tenant_id, cp), stderr_progress() as progress:
        task = progress.add_task("exporting audit events", total=cp.tree_size + 1)
        with (nullcontext(sys.stdout) if out is None else out.open("w", encoding="utf-8")) as f:
            for line in iter_verifiable_export(conn, tenant_id, cp):
                f.write(line)
                progress.advance(task)
    typer.echo(f"exported {cp.tree_size} events", err=True)


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


@app.command("history")
def audit_history(
    resource_type: Annotated[
        str, typer.Argument(metavar="TYPE", help="run, workflow, user, tenant, schedule...")
    ],
    resource_id: Annotated[str, typer.Argument(metavar="ID", help="The resource's id.")],
    as_of: Annotated[
        str | None,
        typer.Option(metavar="VERSION|TIME", help="Its state at a version or RFC 3339 time."),
    ] = None,
    url: Url = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """A resource's events from the audit log (through the HTTP API), or its state then."""
    with connected(url, token) as client:
        found = (client.audit.history(resource_type, resource_id) if as_of is None else
                 client.audit.state_as_of(resource_type, resource_id, as_of))  # fmt: skip
    if as_json or as_of is not None:
        print_json(found)
        return
    for e in found.events:
        typer.echo(f"{e.version:>4}  {e.time.isoformat()}  {e.type}")
