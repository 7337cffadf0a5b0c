"""Event append: saves/s and events/s through ``Platform`` vs the raw library, same batch size.

* ``platform``: our application as in production (zlib + AES-GCM, ``meta`` on every event),
  saving ``Tenant`` aggregates built by the domain's own methods.
* ``raw``: an ``eventsourcing`` ``Application`` with a trivial aggregate, library defaults (no
  compression, no cipher), into a table of its own. The baseline of the ratio.
* ``raw_cipher``: the same raw application with our compressor and cipher: what the crypto costs.
* ``command``: ``Platform.create_workflow`` end to end (validation included), one event a save.
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.harness import BenchEnv, Profile, figure, with_ratio


class Thing(Aggregate):
    """The trivial aggregate of the raw baseline."""

    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.n = 0

    @event("Happened")
    def happen(self, n: int) -> None:
        self.n = n


class RawApp(Application[uuid.UUID]):
    name = "benchraw"


class RawCipherApp(Application[uuid.UUID]):
    name = "benchrawcipher"


def raw_env(env: BenchEnv, *, crypto: bool) -> dict[str, str]:
    e = env.db.owner.eventsourcing_env(env.settings, create_table=True)
    if not crypto:
        for k in ("CIPHER_TOPIC", "CIPHER_KEY", "COMPRESSOR_TOPIC"):
            e.pop(k, None)
    return e


def _raw_batch(batch: int) -> Thing:
    t = Thing(name="thing")
    for i in range(batch - 1):
        t.happen(i)
    return t


def _platform_batch(batch: int) -> Any:
    from domain.identity.tenants import Tenant

    slug = f"t-{uuid.uuid4().hex[:12]}"
    t = Tenant(name="Bench tenant", slug=slug, config={"region": "eu"}, billing_info={})
    for i in range(batch - 1):
        t.set_config(f"k{i}", {"value": i, "label": "bench"})
    return t


def _sample(app: Any, make: Any, batch: int, saves: int) -> tuple[float, float]:
    aggregates = [make(batch) for _ in range(saves)]  # built before the clock starts
    t0 = time.perf_counter()
    for a in aggregates:
        app.save(a)
    dt = time.perf_counter() - t0
    return saves / dt, saves * batch / dt


def _command_sample(app: Any, tenant_id: uuid.UUID, saves: int) -> float:
    from domain.workflows.commands import CreateWorkflow

    definition = {
        "name": "bench",
        "steps": [{"id": f"s{i}", "uses": "noop", **({"needs": [f"s{i-1}"]} if i else {})}
                  for i in range(10)],
    }
    t0 = time.perf_counter()
    for i in range(saves):
        app.create_workflow(CreateWorkflow(tenant_id=tenant_id, name=f"wf {i}",
                                           definition=definition))
    return saves / (time.perf_counter() - t0)


def run(env: BenchEnv, profile: Profile) -> dict[str, Any]:
    from api.composition import definition_validator
    from domain.platform import Platform

    platform = Platform(env=env.db.system.eventsourcing_env(env.settings),
                        definition_validator=definition_validator())
    raw = RawApp(env=raw_env(env, crypto=False))
    raw_c = RawCipherApp(env=raw_env(env, crypto=True))
    apps = {"raw": (raw, _raw_batch), "raw_cipher": (raw_c, _raw_batch),
            "platform": (platform, _platform_batch)}
    out: dict[str, Any] = {
        "cipher": env.db.system.eventsourcing_env(env.settings).get("CIPHER_TOPIC", "none"),
        "compressor": "zlib",
    }
    try:
        for batch in (1, 10):
            # as many saves at 10 events as at 1: samples of a second or more, less noise
            saves = profile.append_saves
            res: dict[str, Any] = {}
            # interleave the applications so drift (autovacuum, checkpoints) hits all alike
            samples: dict[str, list[tuple[float, float]]] = {k: [] for k in apps}
            for _ in range(profile.repeats):
                for name, (app, make) in apps.items():
                    samples[name].append(_sample(app, make, batch, saves))
            for name in apps:
                res[name] = {
                    "saves_per_s": figure([s[0] for s in samples[name]], "saves/s"),
                    "events_per_s": figure([s[1] for s in samples[name]], "events/s"),
                }
            for name in apps:
                for metric in ("saves_per_s", "events_per_s"):
                    with_ratio(res[name][metric], res["raw"][metric], "raw eventsourcing app")
                # the same comparison per round (each round runs every app back to back, so
                # it shares the machine's state of the moment): the median of those ratios
                res[name]["paired_ratio"] = statistics.median(
                    s[1] / r[1] for s, r in zip(samples[name], samples["raw"], strict=True))
            res["events_per_save"] = batch
            out[f"batch_{batch}"] = res

        from domain.identity.commands import CreateTenant

        tenant = platform.create_tenant(CreateTenant(name="Bench", slug="bench-cmd")).tenant
        cmd = figure([_command_sample(platform, tenant.id, max(1, profile.append_saves // 2))
                      for _ in range(profile.repeats)], "commands/s")
        out["create_workflow_command"] = with_ratio(
            cmd, out["batch_1"]["raw"]["saves_per_s"], "raw eventsourcing app, 1 event/save")
    finally:
        for app in (platform, raw, raw_c):
            app.close()
    return out
