"""Signing in and out of the console: a tenant user's login, the platform admin's token."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.auth import principal_for_token
from api.boundary import text_problem
from api.console.session import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SignedIn,
    _same_origin,
    clear_cookie,
    container_of,
    csrf_token,
    new_login_nonce,
    set_cookie,
)
from api.console.templating import render
from api.errors import ProblemError
from api.ratelimit import login_limiter
from api.routes.sessions import log_in
from api.schemas.identity import LoginRequest
from domain.kernel.actor import acting_as

router = APIRouter()

Text = Annotated[str, Form(max_length=1024)]


def _login_page(
    request: Request, status_code: int = 200, error: str = "", **values: str
) -> Response:
    """The sign-in page with a fresh login CSRF nonce (double-submit: cookie and field)."""
    nonce = new_login_nonce()
    response = render(
        request, "login.html", None, status_code, error=error, nonce=nonce,
        tenant=values.get("tenant", ""), email=values.get("email", ""),
    )  # fmt: skip
    set_cookie(request, response, LOGIN_COOKIE, nonce, max_age=3600)
    return response


def _check_login_nonce(request: Request, given: str) -> None:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if (
        not expected
        or not _same_origin(request)
        or not hmac.compare_digest(given.encode(), expected.encode())
    ):
        raise ProblemError(403, "The sign-in form expired: reload the page.")


def _signed_in(request: Request, token: str, max_age: int) -> Response:
    response = RedirectResponse("/ui/", status_code=303)
    set_cookie(request, response, SESSION_COOKIE, token, max_age=max_age)
    clear_cookie(request, response, LOGIN_COOKIE)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    """The sign-in form (tenant, email, password) and the platform admin's token form."""
    return _login_page(request)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    tenant: Annotated[str, Form(max_length=100)],
    email: Annotated[str, Form(max_length=255)],
    password: Text,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=100)] = "",
) -> Response:
    """Sign a tenant user in through the JSON API's own login (same throttle, same audit)."""
    _check_login_nonce(request, csrf_token)
    if any(text_problem(v) for v in (tenant, email, password)):
        return _login_page(request, 422, "The form holds characters that cannot be text.")
    container = container_of(request)
    try:
        result = log_in(
            LoginRequest(tenant=tenant, email=email, password=password),
            request, container, login_limiter(request),
        )  # fmt: skip
    except ProblemError as e:
        message = "Too many failed attempts: try again later." if e.status == 429 else (
            "Unknown tenant or email, or wrong password.")  # fmt: skip
        return _login_page(request, e.status, message, tenant=tenant, email=email)
    return _signed_in(request, result.token, container.settings.session_ttl_s)


@router.post("/login/platform", response_class=HTMLResponse)
def platform_login(
    request: Request,
    token: Text,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=100)] = "",
) -> Response:
    """Sign the platform admin in with the deploy-time admin token."""
    _check_login_nonce(request, csrf_token)
    container = container_of(request)
    admin = container.settings.resolved_admin_token()
    if text_problem(token) or not secrets.compare_digest(token.encode(), admin.encode()):
        return _login_page(request, 401, "That is not the platform admin token.")
    return _signed_in(request, token, 8 * 3600)


@router.post("/logout")
def logout(request: Request, principal: SignedIn) -> Response:
    """End the session (a user's session token stops working at once) and drop the cookie."""
    if principal.kind == "user":
        with acting_as(principal.actor):
            container_of(request).platform.revoke_session(principal.token)
    response = RedirectResponse("/ui/login", status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    return response


def landing(request: Request) -> str:
    """Where ``/ui/`` sends this browser: the runs (the platform page for the platform
    admin), or sign-in when its cookie signs nobody in."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return "/ui/login"
    try:
        principal = principal_for_token(token, request, container_of(request))
    except ProblemError:
        return "/ui/login"
    return "/ui/platform" if principal.kind == "platform_admin" else "/ui/runs"


__all__ = ["csrf_token", "router"]
