"""/readyz and /metrics report each background loop of the process (last heartbeat)."""

from __future__ import annotations

from typing import Any


def test_readiness_lists_each_background_loop_with_its_last_heartbeat(client: Any) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    components = ready.json()["checks"]["components"]
    # the projections of a process run on one thread (projections/group.py): one component
    (group,) = [c["projector"] for c in components if "projector" in c]
    assert "readmodel:runs" in group
    assert "audit:platform" in group
    for c in components:
        assert c["ok"], components
        for loop in c["loops"].values():
            assert loop["alive"]
            assert 0 <= loop["last_beat_s"] < 60
    text = client.get("/metrics").text
    assert f'platinum_component_up{{component="{group}",loop="project"}} 1.0' in text


def test_a_worker_whose_loops_are_dead_makes_the_process_unready(
    client: Any, container: Any
) -> None:
    from domain.runs.application import Runs
    from engine.runtime.task_store import PgTaskQueue
    from engine.runtime.worker import Worker
    from engine.scheduling.planner import EnginePlanner

    planner = EnginePlanner()
    unused = PgTaskQueue("postgresql://unused")
    dead = Worker(Runs(planner=planner), planner, unused)  # never started
    container.background.append(dead)
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 503, ready.text
        (worker,) = [c for c in ready.json()["checks"]["components"] if "worker_id" in c]
        assert worker["worker_id"] == dead.id
        assert not worker["ok"]
        assert not worker["loops"]["commit"]["alive"]
        text = client.get("/metrics").text
        assert f'platinum_component_up{{component="{dead.id}",loop="commit"}} 0.0' in text
    finally:
        container.background.remove(dead)
