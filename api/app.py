"""The FastAPI application: routers, error handlers, request ids, request spans when tracing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors, health
from api.boundary import InputBoundary
from api.composition import Container
from api.middleware import ObserveRequests, request_ids
from api.routing import MethodNotAllowed


def create_app(container: Container, *, own_container: bool = False) -> FastAPI:
    """Build the app around a container; ``own_container`` closes it on shutdown."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if own_container:
            container.close()

    app = FastAPI(
        title="Platinum",
        version="1.0.0",
        description="Event-sourced, multi-tenant workflow engine.",
        lifespan=lifespan,
        docs_url=None,  # served offline by api.docs instead of from a CDN
        redoc_url=None,
    )
    app.state.container = container
    errors.install_error_handlers(app)

    from api import docs, metrics, openapi
    from api.routes import api_keys, config, hooks, me, roles, schedules, sessions, tenants, users

    docs.install_home(app)  # GET /
    docs.install(app)  # /docs, /redoc and their assets
    app.include_router(health.router)
    app.include_router(tenants.router)
    app.include_router(sessions.router)
    app.include_router(me.router)
    app.include_router(api_keys.router)
    app.include_router(users.router)
    app.include_router(roles.router)
    app.include_router(config.router)
    from api.routes import audit, marketplace, messaging, run_events, runs, workflows

    app.include_router(workflows.router)
    app.include_router(workflows.schemas_router)
    app.include_router(runs.router)
    app.include_router(run_events.router)
    app.include_router(marketplace.router)
    app.include_router(marketplace.installations_router)
    app.include_router(messaging.notifications_router)
    app.include_router(messaging.conversations_router)
    app.include_router(schedules.router)
    app.include_router(hooks.router)
    app.include_router(audit.router)
    app.include_router(audit.history_router)
    requests, latency = metrics.install(app)  # collectors + GET /metrics
    # innermost: a method the path lacks is a 405 before any route (authentication) runs
    app.add_middleware(MethodNotAllowed)
    # inside ObserveRequests: a refused request is still logged, counted and given an id
    app.add_middleware(InputBoundary, max_body_bytes=container.settings.max_body_bytes)
    app.add_middleware(ObserveRequests, requests=requests, latency=latency)
    # outermost of ours: the request id (asgi-correlation-id) for everything inside
    app.add_middleware(request_ids)
    openapi.install(app)  # errors as problem+json, the bearer scheme, real request bodies
    from api.console import build_console

    app.mount("/ui", build_console(container))  # the web console (its own pages and errors)
    if container.telemetry is not None:  # tracing on: a span per request (api/telemetry.py)
        container.telemetry.instrument(app)
    return app
