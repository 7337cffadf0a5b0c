"""Request dependencies: the container, the acting principal."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request

from api.boundary import ascii_int
from api.composition import Container
from api.errors import ProblemError
from domain.kernel.actor import Actor


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(
            401, "A bearer token is required.", headers={"WWW-Authenticate": "Bearer"}
        )
    return token.strip()


def request_actor(request: Request, **fields: Any) -> Actor:
    client = request.client.host if request.client else None
    return Actor(
        ip=client,
        user_agent=request.headers.get("user-agent"),
        request_id=getattr(request.state, "request_id", None),
        **fields,
    )


def expected_version(if_match: str | None) -> int | None:
    """``If-Match: "7"`` → 7; a malformed value is a client error, not "no precondition"."""
    if if_match is None:
        return None
    tag = if_match.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"')
    version = ascii_int(tag)
    if version is None:
        raise ProblemError(412, f"If-Match {if_match!r} is not an ETag this API issued.")
    return version


KeyPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="1 to 100 letters, digits, '_', '.', ':' or '-', a letter or digit first.",
    ),
]
"""A preference or configuration key in a path."""
