"""Tenant configuration, one key at a time (admin); secret values are never returned."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from api.auth import Principal, require
from api.composition import Container
from api.deps import ContainerDep, KeyPath
from api.etag import IfMatchDep, check_if_match, set_etag
from api.readdb import tenant_tx
from api.redact import redact_entry
from api.schemas.identity import ConfigPublic, ConfigSet
from domain.kernel.actor import acting_as
from domain.kernel.errors import NotFoundError, ValidationError
from engine.steps.egress import TENANT_CONFIG_KEY, AllowList, EgressError
from projections.queries import config

router = APIRouter(prefix="/v1/config", tags=["config"])

ConfigAdmin = Annotated[Principal, Depends(require("config:admin"))]


def _read(container: Container, principal: Principal, key: str) -> dict[str, Any] | None:
    with tenant_tx(container.read_pool, principal.tenant_id) as conn:
        return config.entry(conn, key)


def _public(row: dict[str, Any]) -> ConfigPublic:
    return ConfigPublic(**{**row, "value": redact_entry(row["key"], row["value"])})


@router.get("/{key}", response_model=ConfigPublic)
def get_config(
    key: KeyPath, principal: ConfigAdmin, container: ContainerDep, response: Response
) -> ConfigPublic:
    """Read one configuration entry (secret-like keys come back redacted)."""
    row = _read(container, principal, key)
    if row is None:
        raise NotFoundError("tenant_config", key)
    set_etag(response, row["version"])
    return _public(row)


@router.put("/{key}", response_model=ConfigPublic)
def put_config(
    key: KeyPath,
    body: ConfigSet,
    principal: ConfigAdmin,
    container: ContainerDep,
    response: Response,
    expected: IfMatchDep,
) -> ConfigPublic:
    """Create or replace one configuration entry (``If-Match``: the entry's ETag)."""
    assert principal.tenant_id is not None
    if key == TENANT_CONFIG_KEY:  # checked here so a bad list never reaches a step
        try:
            AllowList.parse(body.value)
        except EgressError as e:
            raise ValidationError.one("/value", str(e)) from None
    if expected is not None:
        current = _read(container, principal, key)
        if current is None:
            raise NotFoundError("tenant_config", key)
        check_if_match(expected, current["version"], "configuration entry")
    with acting_as(principal.actor):
        container.platform.set_tenant_config(principal.tenant_id, key, body.value)
    container.wait_caught_up()
    row = _read(container, principal, key)
    assert row is not None
    set_etag(response, row["version"])
    return _public(row)
