"""Helpers for the PostgreSQL domain tests (fixtures live in ``conftest.py``)."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg

from domain.identity.commands import CreateTenant, RegisterUser
from domain.identity.users import User
from domain.platform import Platform
from tests.support.doubles import PASSWORD

EVENTS_TABLE = "platform_events"
SNAPSHOTS_TABLE = "platform_snapshots"

MakePlatform = Callable[..., Platform]
"""``make_platform(**kwargs)``: a new Platform as the API role, with its own pool."""


def unique_slug(prefix: str = "pg") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def unique_email(local: str = "ann") -> str:
    return f"{local}-{uuid.uuid4().hex[:12]}@acme.io"


def create_tenant(app: Platform, **kwargs: Any) -> UUID:
    fields: dict[str, Any] = {"name": "Acme Ltd", "slug": unique_slug(), **kwargs}
    return app.create_tenant(CreateTenant(**fields)).tenant.id


def register(app: Platform, tenant_id: UUID, email: str | None = None, **kwargs: Any) -> User:
    fields: dict[str, Any] = {"name": "Ann", "password": PASSWORD, **kwargs}
    return app.register_user(
        RegisterUser(tenant_id=tenant_id, email=email or unique_email(), **fields)
    )


def count_events(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchone()
    assert row is not None
    return int(row[0])


def raw_states(conn: psycopg.Connection[Any], table: str) -> dict[str, bytes]:
    """Every row's raw ``state``, keyed ``"<table>:<originator_id>:<version>"``."""
    rows = conn.execute(f"SELECT originator_id, originator_version, state FROM {table}")
    return {f"{table}:{r[0]}:{r[1]}": bytes(r[2]) for r in rows}


def inflate(state: bytes) -> bytes | None:
    """The zlib-decompressed form of ``state``, or None if it is not zlib data."""
    try:
        return zlib.decompress(state)
    except zlib.error:
        return None


def decrypt_state(app: Platform, state: bytes) -> bytes:
    """The transcoded JSON the library stored, undoing its cipher and compressor."""
    assert app.mapper.cipher is not None
    assert app.mapper.compressor is not None
    return app.mapper.compressor.decompress(app.mapper.cipher.decrypt(state))


def encrypt_state(app: Platform, state: dict[str, Any]) -> bytes:
    """Transcode, compress, encrypt: the mapper's ``to_stored_event`` pipeline, by hand."""
    assert app.mapper.cipher is not None
    assert app.mapper.compressor is not None
    encoded = app.mapper.transcoder.encode(state)
    return app.mapper.cipher.encrypt(app.mapper.compressor.compress(encoded))
