"""The skill marketplace: publish (reviewed by the platform admin), browse, install."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from api.audit_hooks import audit_sensitive_read
from api.auth import (
    PlatformAdminPrincipal,
    Principal,
    require,
    require_or_platform_admin,
    tenant_of,
)
from api.composition import Container
from api.deps import ContainerDep
from api.errors import ProblemError
from api.etag import IfMatchDep, check_if_match, set_etag
from api.pagination import Page, PageDep
from api.readdb import tenant_tx
from api.schemas.marketplace import (
    InstallationCreate,
    InstallationPublic,
    InstallationUpdate,
    SkillCreate,
    SkillPublic,
    SkillReject,
    SkillStatus,
)
from domain.kernel.actor import acting_as
from domain.kernel.errors import NotFoundError, ValidationError
from domain.kernel.secrets import redact, schema_secret_fields
from domain.marketplace.commands import InstallSkill, PublishSkill, UpdateInstallation
from domain.marketplace.skills import Installation
from projections.queries import marketplace, users
from projections.queries.paging import Conn

router = APIRouter(prefix="/v1/marketplace/skills", tags=["marketplace"])
installations_router = APIRouter(prefix="/v1/installations", tags=["installations"])

Publisher = Annotated[Principal, Depends(require("marketplace:publish"))]
Installer = Annotated[Principal, Depends(require("installations:admin"))]
Browser = Annotated[Principal, Depends(require_or_platform_admin("marketplace:read"))]


# -- skills --------------------------------------------------------------------------------


def _skill_public(row: dict[str, Any]) -> SkillPublic:
    """A skill row as answered; ``developer_id`` is already hidden where it must be
    (``_hide_foreign_developers``)."""
    return SkillPublic(
        **{k: row[k] for k in SkillPublic.model_fields if k in row and k != "version"},
        version=row["latest_version"],
        revision=row["version"],
    )


def _hide_foreign_developers(
    conn: Conn, rows: list[dict[str, Any]], principal: Principal
) -> list[dict[str, Any]]:
    """The publisher's user id is shown to the platform admin and to the publisher's own
    tenant only: another tenant sees ``developer_id`` null (a user id is not theirs to know).
    The users table is read under the caller's row-level security, so it answers for the
    caller's tenant alone."""
    if principal.kind == "platform_admin":
        return rows
    ids = {r["developer_id"] for r in rows if r.get("developer_id") is not None}
    own = users.existing(conn, ids)
    return [r if r.get("developer_id") in own else {**r, "developer_id": None} for r in rows]


def read_skill(container: Container, skill_id: UUID, principal: Principal) -> dict[str, Any]:
    """A skill as the caller may see it: tenants see approved public skills and their own."""
    with tenant_tx(container.read_pool, principal.tenant_id) as conn:
        row = marketplace.skill(conn, skill_id)
        if row is None or not _visible(row, principal):
            raise NotFoundError("marketplace_skill", skill_id)
        (shown,) = _hide_foreign_developers(conn, [row], principal)
    return shown


def _visible(row: dict[str, Any], principal: Principal) -> bool:
    if principal.kind == "platform_admin":
        return True
    if str(row["status"]) == "active" and row["is_public"]:
        return True
    return principal.user_id is not None and row["developer_id"] == principal.user_id


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SkillPublic)
def publish_skill(
    body: SkillCreate, principal: Publisher, container: ContainerDep, response: Response
) -> SkillPublic:
    """Publish a skill for review (status ``pending``)."""
    with acting_as(principal.actor):
        skill = container.platform.publish_skill(
            PublishSkill(**body.model_dump(), developer_id=principal.user_id)
        )
    container.wait_caught_up()
    row = read_skill(container, skill.id, principal)
    response.headers["Location"] = f"/v1/marketplace/skills/{skill.id}"
    set_etag(response, row["version"])
    return _skill_public(row)


@router.get("", response_model=Page[SkillPublic])
def browse_skills(
    principal: Browser,
    container: ContainerDep,
    page: PageDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Words in name/description.")
    ] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    status_: Annotated[
        SkillStatus | None, Query(alias="status", description="Platform admin only.")
    ] = None,
) -> Page[SkillPublic]:
    """Browse skills: approved public ones (and your own); the platform admin sees all."""
    admin = principal.kind == "platform_admin"
    if not admin and status_ is not None:
        raise ProblemError(403, "Only the platform admin filters skills by status.")
    with tenant_tx(container.read_pool, principal.tenant_id) as conn:
        rows, next_cursor = marketplace.list_skills(
            conn, page, every_skill=admin, developer_id=principal.user_id, status=status_,
            category=category, q=q,
        )  # fmt: skip
        rows = _hide_foreign_developers(conn, rows, principal)
    return Page(items=[_skill_public(r) for r in rows], next_cursor=next_cursor)


@router.get("/{skill_id}", response_model=SkillPublic)
def get_skill(
    skill_id: UUID, principal: Browser, container: ContainerDep, response: Response
) -> SkillPublic:
    """One skill (approved public ones, your own, or any for the platform admin)."""
    row = read_skill(container, skill_id, principal)
    set_etag(response, row["version"])
    return _skill_public(row)


@router.post("/{skill_id}/approve", response_model=SkillPublic)
def approve_skill(
    skill_id: UUID, principal: PlatformAdminPrincipal, container: ContainerDep, response: Response
) -> SkillPublic:
    """Approve a pending skill (platform admin): it becomes installable."""
    with acting_as(principal.actor):
        container.platform.approve_skill(skill_id)
    return _reviewed(container, skill_id, principal, response)


@router.post("/{skill_id}/reject", response_model=SkillPublic)
def reject_skill(
    skill_id: UUID,
    principal: PlatformAdminPrincipal,
    container: ContainerDep,
    response: Response,
    body: SkillReject | None = None,
) -> SkillPublic:
    """Reject a pending skill (platform admin), with a reason."""
    with acting_as(principal.actor):
        container.platform.reject_skill(skill_id, body.reason if body else "")
    return _reviewed(container, skill_id, principal, response)


def _reviewed(
    container: Container, skill_id: UUID, principal: Principal, response: Response
) -> SkillPublic:
    container.wait_caught_up()
    row = read_skill(container, skill_id, principal)
    set_etag(response, row["version"])
    return _skill_public(row)


# -- installations -------------------------------------------------------------------------

def read_installation(
    container: Container, tenant_id: UUID, installation_id: UUID
) -> dict[str, Any]:
    with tenant_tx(container.read_pool, tenant_id) as conn:
        row = marketplace.installation(conn, installation_id)
    if row is None:
        raise NotFoundError("installation", installation_id)
    return row


def _installed(container: Container, tenant_id: UUID, installation_id: UUID) -> Installation:
    """The installation aggregate; an uninstalled one is gone (404), as in the read model."""
    installation = container.platform.get_installation(tenant_id, installation_id)
    if installation.uninstalled:
        raise NotFoundError("installation", installation_id)
    return installation


def _installation_public(row: dict[str, Any]) -> InstallationPublic:
    """An installation with its secrets redacted (``domain.kernel.secrets``: secret-like keys and
    the
    fields the skill's config schema marks secret); the raw config never leaves."""
    config = redact(row.get("config"), schema_secret_fields(row.get("config_schema")))
    return InstallationPublic(**{**row, "config": config, "status": str(row["status"])})


@installations_router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=InstallationPublic
)
def install_skill(
    body: InstallationCreate, principal: Installer, container: ContainerDep, response: Response
) -> InstallationPublic:
    """Install an approved public skill, with config valid against its config schema."""
    tenant_id = tenant_of(principal)
    try:
        with acting_as(principal.actor):
            installation = container.platform.install_skill(
                InstallSkill(
                    tenant_id=tenant_id,
                    skill_id=body.skill_id,
                    config=body.config,
                    installed_by=principal.user_id,
                )
            )
    except NotFoundError as e:
        if e.resource_type != "marketplace_skill":
            raise
        raise ValidationError.one("/skill_id", "no such public skill") from None
    container.wait_caught_up()
    row = read_installation(container, tenant_id, installation.id)
    response.headers["Location"] = f"/v1/installations/{installation.id}"
    set_etag(response, row["version"])
    return _installation_public(row)


@installations_router.get("", response_model=Page[InstallationPublic])
def list_installations(
    principal: Installer, container: ContainerDep, page: PageDep
) -> Page[InstallationPublic]:
    """The tenant's installed skills, oldest first."""
    with tenant_tx(container.read_pool, tenant_of(principal)) as conn:
        rows, next_cursor = marketplace.list_installations(conn, page)
    audit_sensitive_read(container, principal, resource_type="installation", resource_id="*",
                         fields=["config"])  # fmt: skip
    return Page(items=[_installation_public(r) for r in rows], next_cursor=next_cursor)


@installations_router.get("/{installation_id}", response_model=InstallationPublic)
def get_installation(
    installation_id: UUID, principal: Installer, container: ContainerDep, response: Response
) -> InstallationPublic:
    """One installation."""
    row = read_installation(container, tenant_of(principal), installation_id)
    audit_sensitive_read(container, principal, resource_type="installation",
                         resource_id=installation_id, fields=["config"])  # fmt: skip
    set_etag(response, row["version"])
    return _installation_public(row)


@installations_router.patch("/{installation_id}", response_model=InstallationPublic)
def update_installation(
    installation_id: UUID,
    body: InstallationUpdate,
    principal: Installer,
    container: ContainerDep,
    response: Response,
    expected: IfMatchDep,
) -> InstallationPublic:
    """Change config (validated against the skill's schema) or enable/disable."""
    tenant_id = tenant_of(principal)
    check_if_match(expected, _installed(container, tenant_id, installation_id).version)
    with acting_as(principal.actor):
        container.platform.update_installation(
            UpdateInstallation(
                tenant_id=tenant_id,
                installation_id=installation_id,
                config=body.config,
                status=body.status,
                expected_version=expected,
            )
        )
    container.wait_caught_up()
    row = read_installation(container, tenant_id, installation_id)
    set_etag(response, row["version"])
    return _installation_public(row)


@installations_router.delete("/{installation_id}", status_code=status.HTTP_204_NO_CONTENT)
def uninstall_skill(
    installation_id: UUID, principal: Installer, container: ContainerDep, expected: IfMatchDep
) -> Response:
    """Uninstall (the skill may be installed again later)."""
    tenant_id = tenant_of(principal)
    check_if_match(expected, _installed(container, tenant_id, installation_id).version)
    with acting_as(principal.actor):
        container.platform.uninstall_skill(tenant_id, installation_id, expected_version=expected)
    container.wait_caught_up()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
