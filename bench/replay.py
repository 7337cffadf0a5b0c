"""Replay: a tenant export and projection rebuilds from zero, in events/s.

Seeds real ``Platform`` events through the application (tenants with config edits, and one big
tenant's workflows), lets the audit projection catch up, then measures:

* ``scan_raw`` / ``scan_decoded``: ``recorder.select_notifications`` (+ decrypt, decompress,
  decode): the baselines of the ratios;
* ``tenant_export``: ``projections.audit.export.export_events`` (NDJSON CloudEvents from the audit
log);
* ``rebuild_readmodel`` / ``rebuild_audit``: ``ProjectionRunner.rebuild`` from zero through
  ``api.background.build_projection_runners``.
"""

from __future__ import annotations

import io
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.harness import BenchEnv, Profile, figure, unavailable, with_ratio

DEFINITION = {
    "name": "replay",
    "steps": [{"id": f"s{i}", "uses": "noop", **({"needs": [f"s{i - 1}"]} if i else {})}
              for i in range(10)],
}


def seed(platform: Any, tenants: int) -> tuple[uuid.UUID, int]:
    """``tenants`` tenants of 11 events each, and as many 5-event workflows of one big tenant."""
    from domain.identity.tenants import Tenant
    from domain.kernel.ids import slug_key
    from domain.kernel.index import UniqueKey
    from domain.workflows.workflow import Workflow

    big = Tenant(name="Big", slug="big", config={}, billing_info={})
    platform.save(big, UniqueKey(key=slug_key("big"), owner_id=big.id, tenant_id=big.id))
    events = 2
    pending: list[Any] = []
    now = datetime.now(UTC)
    for i in range(tenants):
        slug = f"t-{i}-{uuid.uuid4().hex[:6]}"
        t = Tenant(name=f"Tenant {i}", slug=slug, config={"region": "eu"}, billing_info={})
        # Tenant.Updated, not ConfigSet: the read model's ConfigSet handler fails on
        # PostgreSQL ("could not determine data type of parameter $1"; see the report)
        for k in range(9):
            t.update(name=f"Tenant {i} v{k}", billing_info={"plan": "team", "seats": k})
        wf = Workflow(tenant_id=big.id, name=f"wf {i}", definition=DEFINITION,
                      created_by=None, created_at=now)
        for _ in range(4):
            wf.update_definition(DEFINITION, updated_by=None, at=now)
        pending += [t, UniqueKey(key=slug_key(slug), owner_id=t.id, tenant_id=t.id), wf]
        events += 16
        if len(pending) >= 150:
            platform.save(*pending)
            pending = []
    if pending:
        platform.save(*pending)
    return big.id, events


def _scan(app: Any, decode: bool) -> float:
    recorder, mapper = app.recorder, app.mapper
    n, start = 0, 1
    t0 = time.perf_counter()
    while True:
        batch = recorder.select_notifications(start, 1000)
        if not batch:
            break
        if decode:
            for s in batch:
                mapper.to_domain_event(s)
        n += len(batch)
        start = batch[-1].id + 1
    return n / (time.perf_counter() - t0)


def _runner(env: BenchEnv, name: str) -> Any:
    from api.background import build_projection_runners

    runners = build_projection_runners(env.settings, env.db, names=[name])
    keep = None
    for r in runners:
        if r.app.name == "platform":
            keep = r
        else:
            r.app.close()
    return keep


def _rebuild_sample(env: BenchEnv, runner: Any, name: str) -> float:
    if name == "audit":
        from projections.audit.projection import reset_audit_log

        reset_audit_log(env.db.owner.conninfo)
    t0 = time.perf_counter()
    n = runner.rebuild()
    dt = time.perf_counter() - t0
    if n == 0:
        raise RuntimeError(f"rebuild of {name} applied no events")
    return n / dt


def run(env: BenchEnv, profile: Profile) -> dict[str, Any]:
    import psycopg

    from domain.platform import Platform

    platform = Platform(env=env.db.system.eventsourcing_env(env.settings))
    out: dict[str, Any] = {}
    try:
        t0 = time.perf_counter()
        big_id, events = seed(platform, profile.replay_tenants)
        out["seeded_events"] = events
        out["seed_events_per_s"] = round(events / (time.perf_counter() - t0))

        raw = figure([_scan(platform, False) for _ in range(profile.repeats)], "events/s")
        decoded = figure([_scan(platform, True) for _ in range(profile.repeats)], "events/s")
        out["scan_raw"] = with_ratio(raw, raw, "raw select_notifications")
        out["scan_decoded"] = with_ratio(decoded, raw, "raw select_notifications")

        rebuilt: dict[str, Any] = {}
        for name in ("audit", "readmodel"):
            runner = _runner(env, name)
            if runner is None:
                out[f"rebuild_{name}"] = unavailable(f"no {name} projection of platform events")
                continue
            try:
                if name == "audit":
                    runner.catch_up()  # the export reads the audit log
                rebuilt[name] = figure(
                    [_rebuild_sample(env, runner, name) for _ in range(profile.repeats)],
                    "events/s", events=events)
                out[f"rebuild_{name}"] = with_ratio(rebuilt[name], decoded,
                                                    "decoded select_notifications")
            finally:
                runner.app.close()
                runner.view.datastore.close()

        try:
            from projections.audit.export import export_events
        except ImportError:
            out["tenant_export"] = unavailable("projections.audit.export is not there yet")
        else:
            from domain.audit.checkpoint import Signer, new_private_pem
            from projections.audit.tree import make_checkpoint

            samples, exported = [], 0
            signer = Signer.from_pem("bench", new_private_pem())
            for _ in range(profile.repeats):
                with psycopg.connect(env.db.system.conninfo, autocommit=True) as conn:
                    cp = make_checkpoint(conn, big_id, signer, "bench.local/audit")
                    sink = io.StringIO()
                    t0 = time.perf_counter()
                    exported = export_events(conn, big_id, cp, sink)
                    samples.append(exported / (time.perf_counter() - t0))
            out["tenant_export"] = with_ratio(
                figure(samples, "events/s", events=exported), decoded,
                "decoded select_notifications")
    finally:
        platform.close()
    return out
