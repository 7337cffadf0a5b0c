"""The console's session: the cookie, the signed-in principal, CSRF and permission checks.

The cookie holds the credential the JSON API takes as a bearer token (a login session's
token, or the platform admin token), so the principal is resolved by the same function
(``api.auth.principal_for_token``) and checked by the same ``require`` rules.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.responses import Response

from api.auth import Principal, principal_for_token, require
from api.composition import Container
from api.errors import ProblemError

SESSION_COOKIE = "platinum_session"
LOGIN_COOKIE = "platinum_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SignInRequired(Exception):  # noqa: N818 - a redirect, not an error
    """No (valid) session cookie on a page: the browser is sent to the sign-in page."""


def container_of(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def csrf_token(session_token: str) -> str:
    """The session's CSRF token: an HMAC of a constant keyed by the session's own secret.
    Only a holder of the (HttpOnly) cookie can compute it; it needs no storage."""
    return hmac.new(session_token.encode(), b"platinum-console-csrf", hashlib.sha256).hexdigest()


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/ui", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path="/ui", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


def new_login_nonce() -> str:
    return secrets.token_urlsafe(32)


def _same_origin(request: Request) -> bool:
    """An unsafe request's ``Origin`` (when the browser sends one) must be this service. A
    browser that hides the origin (``null``, e.g. under a no-referrer policy) must then say
    ``Sec-Fetch-Site: same-origin``. Defence in depth: the CSRF token is the check."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return request.headers.get("sec-fetch-site") == "same-origin"
    return origin == f"{request.url.scheme}://{request.url.netloc}"


async def submitted_token(request: Request) -> str:
    """The CSRF token of an unsafe request: the htmx header, else the form's hidden field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # cached on the request: the view reads it again
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def signed_in(request: Request) -> Principal:
    """The principal of the session cookie; pages without one go to sign-in, and an unsafe
    request must carry the session's CSRF token and come from this origin (else 403)."""
    token = request.cookies.get(SESSION_COOKIE)
    container = container_of(request)
    try:
        principal = principal_for_token(token, request, container) if token else None
    except ProblemError:
        principal = None
    if request.method in UNSAFE:
        if principal is None:
            raise ProblemError(401, "Sign in first.")
        given = await submitted_token(request)
        expected = csrf_token(principal.token)
        if not _same_origin(request) or not hmac.compare_digest(given.encode(), expected.encode()):
            raise ProblemError(403, "The form's CSRF token is missing or wrong: reload the page.")
        return principal
    if principal is None:
        raise SignInRequired
    return principal


SignedIn = Annotated[Principal, Depends(signed_in)]


def allowed(permission: str) -> Callable[..., Principal]:
    """A dependency: the signed-in tenant user must hold ``permission`` (the JSON API's own
    check, ``api.auth.require``): else 403."""
    check = require(permission)

    def dependency(principal: SignedIn) -> Principal:
        return check(principal)

    return dependency


def platform_admin(principal: SignedIn) -> Principal:
    if principal.kind != "platform_admin":
        raise ProblemError(403, "This page is the platform admin's.")
    return principal
