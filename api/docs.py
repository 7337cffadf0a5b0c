"""Where a visitor starts: ``GET /``, and the API documentation (/docs, /redoc) served offline.

Swagger UI's dist and ReDoc's standalone bundle come from the ``fastapi-offline`` package
(its ``static/`` folder; we use its files, not its ``FastAPIOffline`` factory, whose pages carry
FastAPI's inline bootstrap script). The pages here load only ``/docs/assets/*`` files: the two
bundles, Swagger UI's stylesheet and a small start-up script of our own instead of an inline one,
so the pages run under a CSP of ``'self'`` (``api.middleware.DOCS_CSP``). No CDN, no web font.
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

ASSETS = "/docs/assets"
"""Where the packaged files are served (``/docs/assets/swagger-ui-bundle.js`` etc.)."""

_STATIC = Path(str(files("fastapi_offline") / "static"))

# Swagger UI, started by a file rather than an inline script. Authorize keeps the token for
# the page's life only (no persistAuthorization: no bearer token left in localStorage).
SWAGGER_INIT = """\
"use strict";
window.ui = SwaggerUIBundle({
  url: document.getElementById("swagger-ui").dataset.openapi,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""

REDOC_INIT = """\
"use strict";
var el = document.getElementById("redoc");
Redoc.init(el.dataset.openapi, {hideDownloadButton: false}, el);
"""

_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - Swagger UI</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""

_REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - ReDoc</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
</head>
<body>
<div id="redoc" data-openapi="{openapi}"></div>
<script src="{assets}/redoc.standalone.js"></script>
<script src="{assets}/redoc-init.js"></script>
</body>
</html>
"""


def _page(template: str, app: FastAPI, request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return HTMLResponse(
        template.format(
            title=html.escape(app.title),
            assets=html.escape(root + ASSETS),
            openapi=html.escape(root + (app.openapi_url or "/openapi.json")),
        )
    )


def install(app: FastAPI) -> None:
    """Serve ``/docs``, ``/redoc`` and their assets; the app is built with
    ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are not there. Plain routes, like
    FastAPI's own documentation pages: not API operations, so not in the document or the
    permission table."""

    def swagger_init(_request: Request) -> Response:
        return Response(SWAGGER_INIT, media_type="text/javascript")

    def redoc_init(_request: Request) -> Response:
        return Response(REDOC_INIT, media_type="text/javascript")

    def swagger_ui(request: Request) -> Response:
        return _page(_SWAGGER_PAGE, app, request)

    def redoc(request: Request) -> Response:
        return _page(_REDOC_PAGE, app, request)

    app.add_route(f"{ASSETS}/swagger-init.js", swagger_init, include_in_schema=False)
    app.add_route(f"{ASSETS}/redoc-init.js", redoc_init, include_in_schema=False)
    app.mount(ASSETS, StaticFiles(directory=_STATIC), name="docs-assets")
    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)


class Home(BaseModel):
    """Where to go from ``GET /``."""

    name: str
    docs: str = Field(description="Swagger UI (interactive).")
    redoc: str = Field(description="ReDoc (reference).")
    openapi: str = Field(description="The OpenAPI document.")
    ui: str = Field(description="The web console.")


UI = "/ui/"


def _wants_html(accept: str) -> bool:
    """Whether an ``Accept`` header prefers HTML: ``text/html`` listed with a q above 0 and
    not below ``application/json``'s (a browser's navigation); ``*/*`` alone is an API
    client."""
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[media.lower()] = max(q, weights.get(media.lower(), 0.0))
    html_q = weights.get("text/html", 0.0)
    return html_q > 0 and html_q >= weights.get("application/json", 0.0)


def install_home(app: FastAPI) -> None:
    """``GET /``: a browser goes to the console (303), an API client is told where the docs are."""

    @app.get(
        "/",
        response_model=Home,
        tags=["meta"],
        responses={303: {"description": "A browser (Accept: text/html) is sent to /ui/."}},
    )
    def home(request: Request) -> Response:
        """Where to start: the console for a browser, the documentation for an API client."""
        root = request.scope.get("root_path", "")
        if _wants_html(request.headers.get("accept", "")):
            return RedirectResponse(root + UI, status_code=303, headers={"Vary": "Accept"})
        body = Home(
            name=app.title,
            docs=root + "/docs",
            redoc=root + "/redoc",
            openapi=root + (app.openapi_url or "/openapi.json"),
            ui=root + UI,
        )
        return JSONResponse(body.model_dump(), headers={"Vary": "Accept"})
