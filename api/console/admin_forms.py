"""What the admin pages' forms share: a failed command shown on the page with the JSON
API's status, and the redirect back after one that worked."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError as PydanticValidationError
from starlette.responses import RedirectResponse

from api.errors import ProblemError
from domain.kernel.errors import ConflictError, StaleVersionError, ValidationError

FAILURES = (
    ProblemError,
    ValidationError,
    ConflictError,
    PydanticValidationError,
    RequestValidationError,
)
"""What a form's command may raise that the page shows (any other error is the usual 4xx/5xx:
403 for a missing permission and 404 for another tenant's id come from the dependencies)."""


def failure(e: Exception) -> tuple[int, str]:
    """The status the JSON API would answer, and a sentence for the page."""
    if isinstance(e, ProblemError):
        said = "; ".join(f"{p.get('pointer', '')}: {p.get('message', '')}" for p in e.errors or [])
        return e.status, f"{e.detail} {said}".strip()
    if isinstance(e, StaleVersionError):
        return 412, f"Conflict: {e} Reload the page and try again."
    if isinstance(e, ConflictError):
        return 409, f"Conflict: {e}"
    if isinstance(e, ValidationError):
        return 422, str(e)
    if isinstance(e, PydanticValidationError | RequestValidationError):
        errors = e.errors()
        return 422, "; ".join(f"{'/'.join(map(str, x['loc']))}: {x['msg']}" for x in errors)
    raise e


def back(section: str) -> RedirectResponse:
    return RedirectResponse(f"/ui/admin#{section}", status_code=303)
