"""Scaling: does a step (an append) cost more as the stored history grows?

For each history size (10^4, 10^5, 10^6 events in the table written to) the table is topped up
with real encoded events by ``COPY`` (``bench.seeding``), then:

* ``platform_command``: load a 10-event ``Tenant`` and append one event to it (the shape of a
  step: read an aggregate, decide, append), ops/s and p50 latency;
* ``runs_chain``: when the runtime is there, 10-step chains through the workers: runs/s and the
  per-step latency (run latency / 10). Seeded from a real finished run's events.

Each point's ratio is to the smallest history's point of the same curve.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from bench import seeding
from bench.harness import BenchEnv, Profile, figure, percentile, unavailable, with_ratio


def _tenant_template(platform: Any) -> list[tuple[int, str, bytes]]:
    from domain.identity.tenants import Tenant

    t = Tenant(name="Seeded", slug=f"s-{uuid.uuid4().hex[:8]}", config={}, billing_info={})
    for k in range(9):
        t.update(name=f"Seeded v{k}", billing_info={"plan": "team", "seats": k})
    return seeding.template_of(platform, t)


def _command_point(platform: Any, ops: int, repeats: int) -> dict[str, Any]:
    from domain.identity.tenants import Tenant

    # a pool of 10-event aggregates to update, made outside the clock
    pool = []
    for i in range(ops):
        t = Tenant(name="Target", slug=f"x-{uuid.uuid4().hex[:10]}", config={}, billing_info={})
        for k in range(9):
            t.update(name=f"Target {i} v{k}")
        pool.append(t)
    # in chunks: one save of ~3,750 events hung for good in psycopg's Pipeline.sync here
    for i in range(0, len(pool), 50):
        platform.save(*pool[i:i + 50])
    throughput, p50 = [], []
    for r in range(repeats):
        lat = []
        t0 = time.perf_counter()
        for t in pool:
            s = time.perf_counter()
            agg = platform.repository.get(t.id)
            agg.update(name=f"{agg.name} r{r}")
            platform.save(agg)
            lat.append((time.perf_counter() - s) * 1000)
        throughput.append(ops / (time.perf_counter() - t0))
        p50.append(percentile(lat, 50))
    return {"throughput": figure(throughput, "ops/s"), "latency_ms": figure(p50, "ms")}


def run(env: BenchEnv, profile: Profile) -> dict[str, Any]:
    from bench import runs as runs_bench
    from domain.platform import Platform

    platform = Platform(env=env.db.system.eventsourcing_env(env.settings))
    owner = env.db.owner.conninfo
    curves: dict[str, Any] = {"platform_command": {"table": "platform_events", "points": []}}
    runs_ready = runs_bench.availability()
    if runs_ready is None:
        curves["runs_chain"] = {"table": "runs_events", "points": []}
    else:
        curves["runs_chain"] = unavailable(runs_ready)
    out: dict[str, Any] = {"curves": curves, "seeding": []}
    harness = None
    try:
        template = _tenant_template(platform)
        if runs_ready is None:
            harness = runs_bench.Harness(env, workers=1, skills=True)
            run_template = harness.template_run_events()
        ops = max(20, profile.append_saves // 4)
        for level in profile.history:
            for name, tpl in (("platform_command", template),
                              ("runs_chain", run_template if harness else None)):
                if tpl is None:
                    continue
                table = curves[name]["table"]
                have = seeding.count(owner, table)
                if have < level:
                    rate = seeding.copy_events(owner, table, tpl, level - have)
                    out["seeding"].append({"table": table, "to": level,
                                           "events_per_s": round(rate)})
            point = {"events": seeding.count(owner, "platform_events"),
                     **_command_point(platform, ops, profile.repeats)}
            curves["platform_command"]["points"].append(point)
            if harness is not None:
                res = harness.measure("chain", profile.run_count, profile.repeats)
                curves["runs_chain"]["points"].append({
                    "events": seeding.count(owner, "runs_events"),
                    "throughput": res["runs_per_s"],
                    "latency_ms": res["per_step_ms"],
                })
        for curve in curves.values():
            pts = curve.get("points") or []
            for p in pts:
                for key in ("throughput", "latency_ms"):
                    with_ratio(p[key], pts[0][key], f"{pts[0]['events']:,} stored events")
    finally:
        if harness is not None:
            harness.close()
        platform.close()
    return out
