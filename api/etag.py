"""ETags are aggregate versions: ``ETag: "7"`` on reads, ``If-Match: "7"`` on writes.

Reads call ``set_etag(response, row["version"])``. Writes take ``IfMatchDep`` (the expected
version or None) and pass it to the domain command's ``expected_version`` — the domain raises
``StaleVersionError`` → 412. Where the domain command has no such parameter, the route loads
the aggregate and calls ``check_if_match`` before the command. Endpoints that must not run
blind take ``RequiredIfMatchDep`` (428 without the header).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Response

from api.deps import ETAG_PATTERN, expected_version
from api.errors import ProblemError

IfMatchHeader = Annotated[
    str | None,
    Header(
        description='The ETag of the version this write is based on, e.g. "3"; a value that is'
        " not an ETag is a 400.",
        json_schema_extra={"pattern": ETAG_PATTERN},
    ),
]


def etag(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def if_match(
    if_match: IfMatchHeader = None,
) -> int | None:
    """The version the client based its write on (None without ``If-Match``)."""
    return expected_version(if_match)


def required_if_match(
    if_match: IfMatchHeader = None,
) -> int:
    version = expected_version(if_match)
    if version is None:
        raise ProblemError(428, "This write needs an If-Match header with the resource's ETag.")
    return version


IfMatchDep = Annotated[int | None, Depends(if_match)]
RequiredIfMatchDep = Annotated[int, Depends(required_if_match)]


def check_if_match(expected: int | None, actual: int, what: str = "resource") -> None:
    """412 when the client's ``If-Match`` version is not the current one."""
    if expected is not None and expected != actual:
        raise ProblemError(
            412, f"The {what} is at version {actual}, not {expected}; read it again."
        )
