"""Prometheus metrics at ``GET /metrics``.

Request counts and latency are observed by a middleware, labelled by the route *template*
(``/v1/users/{user_id}``, never the raw path, so ids cannot explode the label space). Runs by
status, queue depth and projector lag are read from the database at scrape time by a
collector; each source is looked up with ``to_regclass`` first and any failure is skipped, so
the endpoint answers even while tables are missing or the database is down. Step durations
are observed by whoever executes steps through ``observe_step_duration``.

Each app gets its own registry (tests build several apps in one process).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import psycopg
from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from api.composition import Container
from projections.queries import metrics as gauges

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

STEP_DURATION = Histogram(
    "platinum_step_duration_seconds",
    "Wall time of one step attempt, by step kind and outcome.",
    ["kind", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=None,
)
"""Process-wide: workers observe it; every app's registry exposes it."""


def observe_step_duration(kind: str, outcome: str, seconds: float) -> None:
    """Record one step attempt (called by the engine's worker, e.g. ``outcome="succeeded"``)."""
    STEP_DURATION.labels(kind=kind, outcome=outcome).observe(seconds)


class _StepDurations(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from STEP_DURATION.collect()


class DatabaseCollector(Collector):
    """Gauges read at scrape time across tenants, on the system role (BYPASSRLS)."""

    def __init__(self, container: Container) -> None:
        self.container = container

    def collect(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily(
            "platinum_runs", "Runs in the read model, by status.", labels=["status"]
        )
        queue = GaugeMetricFamily(
            "platinum_queue_depth", "Work waiting to be picked up, by queue.", labels=["queue"]
        )
        lag = GaugeMetricFamily(
            "platinum_projection_lag_events",
            "Events a projection is behind its application's head.",
            labels=["projection", "application"],
        )
        failing = GaugeMetricFamily(
            "platinum_projection_failing",
            "1 while a projection is stuck on an event it cannot apply (see /readyz).",
            labels=["projection", "application"],
        )
        parked = GaugeMetricFamily(
            "platinum_projection_parked",
            "Events a projection parked (their data cannot be applied; see /readyz).",
            labels=["projection", "application"],
        )
        up = GaugeMetricFamily("platinum_database_up", "1 if the metrics query reached PostgreSQL.")
        try:
            with self.container.status_pool.connection() as conn:  # in the budget: no new one
                self._runs(conn, runs)
                self._queues(conn, queue)
                self._lag(conn, lag, failing, parked)
            up.add_metric([], 1)
        except Exception:  # metrics must answer even when the database does not
            log.warning("metrics: database gauges unavailable", exc_info=True)
            up.add_metric([], 0)
        yield from (runs, queue, lag, failing, parked, up)

    @staticmethod
    def _runs(conn: psycopg.Connection[Any], family: GaugeMetricFamily) -> None:
        for status, count in gauges.runs_by_status(conn).items():
            family.add_metric([status], count)

    @staticmethod
    def _queues(conn: psycopg.Connection[Any], family: GaugeMetricFamily) -> None:
        for queue, depth in gauges.queue_depths(conn).items():
            family.add_metric([queue], depth)

    @staticmethod
    def _lag(
        conn: psycopg.Connection[Any],
        family: GaugeMetricFamily,
        failing: GaugeMetricFamily,
        parked: GaugeMetricFamily,
    ) -> None:
        from projections.status import projection_failures, projection_lag, projection_parked

        stuck = {(f["projection"], f["application"]) for f in projection_failures(conn)}
        aside = {(p["projection"], p["application"]): p["events"] for p in projection_parked(conn)}
        for projection, apps in projection_lag(conn).items():
            for app, behind in apps.items():
                family.add_metric([projection, app], behind)
                failing.add_metric([projection, app], int((projection, app) in stuck))
                parked.add_metric([projection, app], aside.get((projection, app), 0))


class LivenessCollector(Collector):
    """This process's background loops: seconds since each last went round, and whether it
    is healthy (``platinum_component_up``); runs a worker could not fail visibly (parked)."""

    def __init__(self, container: Container) -> None:
        self.container = container

    def collect(self) -> Iterator[Metric]:
        from api.background import liveness

        beat = GaugeMetricFamily("platinum_component_last_beat_seconds",
                                 "Seconds since a background loop last went round.",
                                 labels=["component", "loop"])  # fmt: skip
        up = GaugeMetricFamily("platinum_component_up",
                               "1 while a background loop is alive and recent.",
                               labels=["component", "loop"])  # fmt: skip
        parked = GaugeMetricFamily("platinum_worker_parked_runs",
                                   "Runs a worker could not even fail visibly (see the log).",
                                   labels=["component"])  # fmt: skip
        try:
            for c in liveness(self.container):
                name = str(c.get("worker_id") or c.get("projector") or c.get("dispatcher")
                           or "component")  # fmt: skip
                for loop, state in c.get("loops", {}).items():
                    beat.add_metric([name, loop], state["last_beat_s"])
                    up.add_metric([name, loop], int(bool(state["ok"])))
                if "parked_runs" in c:
                    parked.add_metric([name], c["parked_runs"])
        except Exception:  # metrics must answer whatever a probe does
            log.warning("metrics: liveness unavailable", exc_info=True)
        yield from (beat, up, parked)


def install(app: FastAPI) -> tuple[Counter, Histogram]:
    """Add the collectors and ``GET /metrics`` to ``app``; returns the request counter and
    latency histogram for the request middleware (``api.middleware``) to observe."""
    registry = CollectorRegistry(auto_describe=False)
    requests = Counter(
        "platinum_http_requests_total",
        "HTTP requests, by method, route template and status.",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "platinum_http_request_duration_seconds",
        "HTTP request latency, by method and route template.",
        ["method", "route"],
        registry=registry,
    )
    registry.register(DatabaseCollector(app.state.container))
    registry.register(_StepDurations())
    registry.register(LivenessCollector(app.state.container))
    app.state.metrics_registry = registry

    app.include_router(router)
    return requests, latency


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, latency, runs by status, queue depth, projector lag."""
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
