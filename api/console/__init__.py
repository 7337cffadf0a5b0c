"""The web console: server-rendered pages under ``/ui/``, mounted on the API's app.

A sub-application (``build_console``) so its pages keep out of the JSON API's OpenAPI document
and permission table, and its errors can be pages; it shares the API's container, so every
view calls the same application services and queries, under the same permission rules.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from api import errors
from api.composition import Container
from api.console.session import SESSION_COOKIE, SignInRequired, clear_cookie
from api.console.templating import HERE


def build_console(container: Container) -> FastAPI:
    """The console app; mount it at ``/ui``."""
    from api.console import (
        admin_settings,
        admin_views,
        approvals,
        audit_views,
        auth_views,
        error_pages,
        notifications_views,
        platform_views,
        run_commands,
        run_link_commands,
        run_links,
        run_live,
        run_view,
        runs_views,
        trigger_commands,
        workflow_commands,
        workflows_views,
    )

    console = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    console.state.container = container
    errors.install_error_handlers(console)
    error_pages.install(console)  # the same answers, as pages for a browser

    @console.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _exc: SignInRequired) -> Response:
        if request.headers.get("hx-request") == "true":  # a live part: the whole page goes
            response: Response = Response(status_code=204, headers={"HX-Redirect": "/ui/login"})
        else:
            response = RedirectResponse("/ui/login", status_code=303)
        if request.cookies.get(SESSION_COOKIE):  # expired or revoked: drop it
            clear_cookie(request, response, SESSION_COOKIE)
        return response

    @console.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        """``/ui/``: the runs, or the sign-in page."""
        target = auth_views.landing(request)
        return RedirectResponse(target, status_code=303)

    console.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (
        auth_views,
        platform_views,
        runs_views,
        run_view,
        run_live,
        run_commands,
        run_links,
        run_link_commands,
        approvals,
    ):
        console.include_router(module.router)
    for page in (
        trigger_commands,  # before workflow_commands: its /workflows/{id}/{action} is a catch-all
        workflows_views,
        workflow_commands,
        audit_views,
        admin_views,
        admin_settings,
        notifications_views,
    ):
        console.include_router(page.router)
    return console
