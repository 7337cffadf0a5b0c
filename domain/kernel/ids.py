"""Deterministic ids: uniqueness keys and credential lookups by hash."""

from __future__ import annotations

import hashlib
import secrets
from typing import Final
from uuid import UUID, uuid5

NAMESPACE: Final = UUID("6f1c1a4e-1d0b-5c55-9a0e-9b9f5d4c2a11")
"""Fixed for the life of the data: changing it orphans every index and credential."""


def index_id(key: str) -> UUID:
    """Id of the index aggregate that reserves ``key``."""
    return uuid5(NAMESPACE, key)


def slug_key(slug: str) -> str:
    return f"slug:{slug}"


def email_key(tenant_id: UUID, email: str) -> str:
    return f"email:{tenant_id}:{email}"


def role_key(name: str) -> str:
    return f"role:{name}"


def installation_key(tenant_id: UUID, skill_id: UUID) -> str:
    return f"installation:{tenant_id}:{skill_id}"


def preference_id(user_id: UUID, key: str) -> UUID:
    """A preference is its own aggregate; its id makes the key unique per user."""
    return uuid5(NAMESPACE, f"preference:{user_id}:{key}")


def notification_id(tenant_id: UUID, idempotency_key: str) -> UUID:
    """A notification requested twice with one idempotency key is one notification."""
    return uuid5(NAMESPACE, f"notification:{tenant_id}:{idempotency_key}")


def new_secret() -> str:
    """A fresh bearer secret (256 bits)."""
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """SHA-256 hex of a secret: what we store instead of the secret itself."""
    return hashlib.sha256(secret.encode()).hexdigest()


def session_id(token_hash: str) -> UUID:
    return uuid5(NAMESPACE, f"session:{token_hash}")


def api_key_id(key_hash: str) -> UUID:
    return uuid5(NAMESPACE, f"api-key:{key_hash}")
