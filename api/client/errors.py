"""What the client raises: one typed exception per kind of problem+json, and the unreachable."""

from __future__ import annotations

from typing import Any

import httpx


class PlatinumError(Exception):
    """Anything the client raises on purpose."""


class UnreachableError(PlatinumError):
    """No answer from the service at ``url`` (refused, reset, timed out), retries spent."""

    def __init__(self, url: str, cause: BaseException) -> None:
        super().__init__(f"{url}: {cause.__class__.__name__}: {cause}")
        self.url = url
        self.cause = cause


class APIError(PlatinumError):
    """An answer of status 4xx or 5xx, with the RFC 9457 fields of its problem+json body.

    ``errors`` lists ``{pointer, message}`` for validation problems; ``headers`` are the
    answer's (``ETag``, ``Retry-After``, ``Allow``...)."""

    status: int = 0

    def __init__(
        self,
        status: int,
        *,
        type: str = "about:blank",
        title: str = "",
        detail: str = "",
        errors: list[dict[str, str]] | None = None,
        instance: str | None = None,
        headers: httpx.Headers | None = None,
        body: Any = None,
    ) -> None:
        self.status = status
        self.type, self.title, self.detail = type, title, detail
        self.errors = errors or []
        self.instance = instance
        self.headers = headers or httpx.Headers()
        self.body = body
        super().__init__(self.summary())

    @property
    def retry_after(self) -> float | None:
        """The answer's ``Retry-After`` in seconds, if it gave one."""
        return retry_after(self.headers)

    def summary(self) -> str:
        """One line: status, detail, and every ``pointer: message``."""
        listed = "; ".join(f"{e.get('pointer', '')}: {e.get('message', '')}" for e in self.errors)
        text = f"HTTP {self.status}: {self.detail or self.title}"
        return f"{text} ({listed})" if listed else text


class BadRequestError(APIError):
    status = 400


class AuthError(APIError):
    """401: no credential, a bad one, an expired session, a bad hook signature."""

    status = 401


class ForbiddenError(APIError):
    status = 403


class NotFoundError(APIError):
    """404: missing, or another tenant's (the API does not tell them apart)."""

    status = 404


class MethodNotAllowedError(APIError):
    status = 405


class ConflictError(APIError):
    """409: the resource's state refuses the command (e.g. activating an archived workflow)."""

    status = 409


class PreconditionFailedError(APIError):
    """412: the ``If-Match`` version is stale; re-read and retry."""

    status = 412


class ContentTooLargeError(APIError):
    status = 413


class ValidationError(APIError):
    """422: invalid input; ``errors`` says where (JSON Pointers)."""

    status = 422


class PreconditionRequiredError(APIError):
    """428: the write needs ``If-Match``."""

    status = 428


class RateLimitedError(APIError):
    """429: too many requests; wait ``retry_after`` seconds (None when the answer gave none)."""

    status = 429


class ServerError(APIError):
    """5xx (503: the database cannot be reached for now)."""

    status = 500


_BY_STATUS: dict[int, type[APIError]] = {
    c.status: c
    for c in (BadRequestError, AuthError, ForbiddenError, NotFoundError, MethodNotAllowedError,
              ConflictError, PreconditionFailedError, ContentTooLargeError, ValidationError,
              PreconditionRequiredError, RateLimitedError)
}


def retry_after(headers: httpx.Headers) -> float | None:
    """``Retry-After`` in seconds when it is a number (the API sends only numbers)."""
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_for(response: httpx.Response) -> APIError:
    """The typed exception of a 4xx/5xx answer, its problem+json fields copied in."""
    cls = _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = ServerError if response.status_code >= 500 else APIError
    try:
        body = response.json()
    except ValueError:
        body = None
    fields = body if isinstance(body, dict) else {}
    errors = fields.get("errors")
    return cls(
        response.status_code,
        type=str(fields.get("type", "about:blank")),
        title=str(fields.get("title", response.reason_phrase)),
        detail=str(fields.get("detail") or response.text[:500]),
        errors=errors if isinstance(errors, list) else None,
        instance=fields.get("instance"),
        headers=response.headers,
        body=body,
    )
