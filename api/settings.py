"""Service settings: environment variables with the ``PLATINUM_`` prefix, plus ``DATABASE_URL``."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from engine.egress import EgressPolicy


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
    egress_allow: str = Field(
        default="",
        description="Comma-separated CIDRs and host names that http steps, skills over HTTP and"
        " webhooks may reach although loopback/private/link-local/metadata (PLATINUM_EGRESS_ALLOW)."
        " The embedded mode (DATABASE_URL unset) adds loopback.",
    )

    @field_validator("egress_allow")
    @classmethod
    def _check_egress_allow(cls, value: str) -> str:
        from engine.egress import AllowList

        AllowList.parse(value)  # raises on an entry that is neither a CIDR nor a host name
        return value

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    def egress_policy(self) -> EgressPolicy:
        """The platform's egress policy; the embedded mode (``make run``) allows loopback."""
        from engine.egress import EgressPolicy

        return EgressPolicy.from_setting(self.egress_allow, loopback=self.embedded)

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
