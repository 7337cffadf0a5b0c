"""Request dependencies: the container, the acting principal."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Path, Request

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


ETAG = r'[ \t]*(?:W/)?"*([0-9]{1,18})"*[ \t]*'
ETAG_PATTERN = f"^{ETAG}$"
"""What ``If-Match`` holds: an ETag of this API (``"7"``, ``W/"7"``, bare ``7``), between optional
spaces or tabs. The OpenAPI document carries the pattern; the parser is the same expression."""
_ETAG = re.compile(ETAG)


def expected_version(if_match: str | None) -> int | None:
    """``If-Match: "7"`` → 7; a malformed value is a 400 (bad input, whatever the resource's
    state), never "no precondition" and never a 412 (which says the ETag is stale)."""
    if if_match is None:
        return None
    match = _ETAG.fullmatch(if_match)
    if match is None:
        raise ProblemError(
            400,
            f'If-Match {if_match!r} is not an ETag of this API (e.g. "3").',
            errors=[{"pointer": "#header/if-match", "message": "not an ETag"}],
        )
    return int(match.group(1))


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
