"""The typed Python client of Platinum's HTTP API (``Client``, ``AsyncClient``) on httpx.

It lives in ``api/`` because the top-level layout is fixed (domain, engine, projections, api)
and its models are the API's own (``api.schemas``): one wheel, one definition of each
shape. See docs/client.md.
"""

from __future__ import annotations

from api.client.aio import AsyncClient, AsyncPager
from api.client.errors import (
    APIError,
    AuthError,
    BadRequestError,
    ConflictError,
    ContentTooLargeError,
    ForbiddenError,
    MethodNotAllowedError,
    NotFoundError,
    PlatinumError,
    PreconditionFailedError,
    PreconditionRequiredError,
    RateLimitedError,
    ServerError,
    UnreachableError,
    ValidationError,
)
from api.client.retrying import RetryPolicy
from api.client.signing import sign_delivery
from api.client.sync import Client, Pager

__all__ = [
    "APIError",
    "AsyncClient",
    "AsyncPager",
    "AuthError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "ContentTooLargeError",
    "ForbiddenError",
    "MethodNotAllowedError",
    "NotFoundError",
    "Pager",
    "PlatinumError",
    "PreconditionFailedError",
    "PreconditionRequiredError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "UnreachableError",
    "ValidationError",
    "sign_delivery",
]
