"""The admin page's skills and configuration forms: install or uninstall a marketplace
skill, set a configuration entry; each through the JSON route's own function."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request, Response
from starlette.responses import HTMLResponse

from api.auth import Principal
from api.boundary import InputError, parse_json
from api.console.admin_forms import FAILURES, back
from api.console.admin_views import _failed
from api.console.session import allowed, container_of
from api.routes.config import put_config
from api.routes.marketplace import install_skill, uninstall_skill
from api.schemas.identity import ConfigSet
from api.schemas.marketplace import InstallationCreate
from domain.kernel.errors import ValidationError

router = APIRouter()

Installer = Annotated[Principal, Depends(allowed("installations:admin"))]
ConfigAdmin = Annotated[Principal, Depends(allowed("config:admin"))]
Version = Annotated[int, Form(ge=1, le=2**31 - 1)]
Key = Annotated[str, Form(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]
"""The same rule as ``PUT /v1/config/{key}``'s path."""


@router.post("/admin/installations", response_class=HTMLResponse)
def install(request: Request, principal: Installer, skill_id: Annotated[UUID, Form()]) -> Response:
    """Install a public skill with no configuration (``POST /v1/installations``)."""
    try:
        install_skill(InstallationCreate(skill_id=skill_id), principal, container_of(request),
                      Response())  # fmt: skip
    except FAILURES as e:
        return _failed(request, principal, "skills", e)
    return back("skills")


@router.post("/admin/installations/{installation_id}/uninstall", response_class=HTMLResponse)
def uninstall(
    request: Request, installation_id: UUID, principal: Installer, version: Version
) -> Response:
    """Uninstall (``DELETE /v1/installations/{id}``, ``If-Match``)."""
    try:
        uninstall_skill(installation_id, principal, container_of(request), version)
    except FAILURES as e:
        return _failed(request, principal, "skills", e)
    return back("skills")


@router.post("/admin/config", response_class=HTMLResponse)
def set_config(
    request: Request, principal: ConfigAdmin, key: Key,
    value: Annotated[str, Form(max_length=100_000)],
) -> Response:  # fmt: skip
    """Create or replace an entry (``PUT /v1/config/{key}``); the value is JSON."""
    try:
        try:
            parsed = parse_json(value)  # bounded like a JSON body
        except InputError as e:
            raise ValidationError.one("/value", e.message) from None
        put_config(key, ConfigSet(value=parsed), principal, container_of(request), Response(),
                   None)  # fmt: skip
    except FAILURES as e:
        return _failed(request, principal, "config", e)
    return back("config")
