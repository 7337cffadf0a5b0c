"""Service settings: environment variables with the ``PLATINUM_`` prefix, plus ``DATABASE_URL``."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service. See the README's settings table."""

    model_config = SettingsConfigDict(env_prefix="PLATINUM_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "PLATINUM_DATABASE_URL"),
        description="Owner/admin connection (migrations). Unset: embedded PostgreSQL in data_dir.",
    )
    data_dir: Path = Field(default=Path(".platinum"), description="Embedded server data, keys.")
    host: str = "127.0.0.1"
    port: int = 8000
    admin_token: str | None = Field(default=None, description="Platform admin bearer token.")
    cipher_key: str | None = Field(default=None, description="base64 AES key for event state.")
    api_role_password: str = Field(default="", description="Password of role platinum_api.")
    system_role_password: str = Field(default="", description="Password of role platinum_system.")
    pool_size: int = 5
    pool_max_overflow: int = 10
    read_pool_size: int = 10
    session_ttl_s: int = 12 * 3600
    projection_wait_s: float = 5.0
    log_level: str = "INFO"
    expression_timeout_s: float = Field(
        default=1.0, gt=0, le=60, description="Time budget of one costly expression (sandbox)."
    )
    expression_memory_mb: int = Field(
        default=256, ge=64, le=65_536, description="Address-space cap of the expression sandbox."
    )
    expression_pass_budget_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="Sandbox time all costly expressions of one scheduling pass may spend.",
    )

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    def resolved_admin_token(self) -> str:
        """The configured token, else one generated once into the data folder."""
        if self.admin_token:
            return self.admin_token
        return _read_or_create(self.data_dir / "admin-token", lambda: secrets.token_urlsafe(32))

    def resolved_cipher_key(self) -> str | None:
        """The configured key; the embedded default generates one into the data folder."""
        if self.cipher_key:
            return self.cipher_key
        if self.embedded:
            return _read_or_create(
                self.data_dir / "cipher.key",
                lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
            )
        return None


def _read_or_create(path: Path, make: object) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value: str = make()  # type: ignore[operator]
    # O_EXCL so two processes starting together agree on one value.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value
