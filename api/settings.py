"""Service settings: environment variables with the ``PLATINUM_`` prefix, plus ``DATABASE_URL``."""

from __future__ import annotations

import base64
import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from engine.steps.egress import EgressPolicy

log = logging.getLogger(__name__)

CIPHER_KEY_FILE = "cipher.key"
AUDIT_KEY_FILE = "audit-signing.key"
_reported: set[Path] = set()  # key files already reported by this process


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
    cipher_key: str | None = Field(
        default=None,
        description="base64 AES-256 key for event state. Unset: data_dir/cipher.key (generated).",
    )
    tls_cert_file: Path | None = Field(default=None, description="PEM certificate: serve HTTPS.")
    tls_key_file: Path | None = Field(default=None, description="PEM private key of the cert.")
    api_role_password: str = Field(default="", description="Password of role platinum_api.")
    system_role_password: str = Field(default="", description="Password of role platinum_system.")
    # Connection budget (docs/scaling.md): event-store pool per role = pool_size (kept open)
    # + pool_max_overflow (opened under load); read_pool_size for the API's read model.
    pool_size: int = 1
    pool_max_overflow: int = 4
    read_pool_size: int = 4
    max_connections: int = Field(
        default=21, description="A process refuses to start if its pools could exceed this."
    )
    pool_timeout_s: float = Field(
        default=1.0, description="Longest wait for a pooled connection (then 503)."
    )
    connect_timeout_s: float = Field(default=2.0, description="Longest connection attempt.")
    reconnect_timeout_s: float = Field(
        default=1.0, description="A pool gives up re-connecting after this (next use retries)."
    )
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

    projection_park_after: int = Field(
        default=3,
        ge=0,
        description="Failures of one event (its data at fault) before a projection parks it;"
        " 0: never park (the projection waits on it).",
    )
    login_failures_per_account: int = Field(
        default=5,
        ge=1,
        description="Failed logins per (tenant, email) within 15 minutes before 429.",
    )
    login_failures_per_ip: int = Field(
        default=50,
        ge=1,
        description="Failed logins per client address within 15 minutes before 429.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body accepted (bytes); larger is 413 problem+json.",
    )

    egress_allow: str = Field(
        default="",
        description="Comma-separated CIDRs and host names that http steps, skills over HTTP and"
        " webhooks may reach although loopback/private/link-local/metadata (PLATINUM_EGRESS_ALLOW)."
        " The embedded mode (DATABASE_URL unset) adds loopback.",
    )

    audit_signing_key: str | None = Field(
        default=None, description="Ed25519 private key (PEM) signing audit checkpoints."
    )
    audit_signing_key_file: Path | None = Field(
        default=None, description="File holding that key. Neither: data_dir/audit-signing.key."
    )
    audit_signing_key_id: str | None = Field(
        default=None, description="The key's id (rotate: new key, new id). Unset: derived."
    )
    audit_log_origin: str = Field(
        default="platinum.local/audit", description="Checkpoint origin prefix (+ /<tenant id>)."
    )
    audit_checkpoint_rows: int = Field(default=1000, ge=1, description="Sign every N new rows.")
    audit_checkpoint_seconds: float = Field(
        default=60.0, gt=0, description="...or when a row is older than this unsigned."
    )
    retention_sweep_seconds: float = Field(
        default=60.0, gt=0, description="How often the retention sweep looks for runs to shred."
    )

    otel: bool = Field(
        default=False,
        description="Trace requests, run starts, step attempts and http calls (OpenTelemetry,"
        " exported by OTLP; docs/observability.md). Also on when OTEL_EXPORTER_OTLP_ENDPOINT"
        " is set.",
    )
    otel_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="The collector (OpenTelemetry's own variable, read by its exporter): set,"
        " it turns tracing on.",
    )
    otel_sdk_disabled: bool = Field(
        default=False,
        validation_alias=AliasChoices("OTEL_SDK_DISABLED"),
        description="OpenTelemetry's own off switch: wins over the two above.",
    )

    @field_validator("egress_allow")
    @classmethod
    def _check_egress_allow(cls, value: str) -> str:
        from engine.steps.egress import AllowList

        AllowList.parse(value)  # raises on an entry that is neither a CIDR nor a host name
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(
                "set both PLATINUM_TLS_CERT_FILE and PLATINUM_TLS_KEY_FILE, or neither"
            )
        return self

    @property
    def tls(self) -> bool:
        """Serve HTTPS (a certificate and its key are configured)."""
        return self.tls_cert_file is not None

    def uvicorn_tls(self) -> dict[str, str]:
        """uvicorn's TLS options: the certificate (chain) and key, when configured."""
        if self.tls_cert_file is None or self.tls_key_file is None:
            return {}
        return {"ssl_certfile": str(self.tls_cert_file), "ssl_keyfile": str(self.tls_key_file)}

    @property
    def tracing(self) -> bool:
        """Whether this process traces (api/telemetry.py)."""
        return (self.otel or bool(self.otel_endpoint)) and not self.otel_sdk_disabled

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    def egress_policy(self) -> EgressPolicy:
        """The platform's egress policy; the embedded mode (``make run``) allows loopback."""
        from engine.steps.egress import EgressPolicy

        return EgressPolicy.from_setting(self.egress_allow, loopback=self.embedded)

    def resolved_admin_token(self) -> str:
        """The configured token, else one generated once into the data folder."""
        if self.admin_token:
            return self.admin_token
        return _read_or_create(self.data_dir / "admin-token", lambda: secrets.token_urlsafe(32))

    def resolved_cipher_key(self) -> str:
        """The configured key, else ``data_dir/cipher.key`` (generated once). Events are always
        encrypted: there is no setting that stores them in clear. Without a configured key the
        file's path is logged as a warning (once per process): every process that shares the
        database must read that same key, and losing it makes every event unreadable."""
        if self.cipher_key:
            return self.cipher_key
        path = (self.data_dir / CIPHER_KEY_FILE).resolve()
        existed = path.exists()
        key = _read_or_create(path, lambda: base64.b64encode(secrets.token_bytes(32)).decode())
        if path not in _reported:
            _reported.add(path)
            log.warning(
                "PLATINUM_CIPHER_KEY is not set: events are encrypted with the key %s %s."
                " Every process on this database (serve, worker, project, dispatch) must use"
                " this key; back it up apart from the database: without it no event can be"
                " read. Set PLATINUM_CIPHER_KEY to manage it yourself.",
                "generated into" if not existed else "read from",
                path,
            )
        return key

    def resolved_audit_signing_key(self) -> tuple[str | None, str]:
        """(key id or None, PEM private key): the setting, else its file, else
        ``data_dir/audit-signing.key`` (generated once, logged like the cipher key)."""
        if self.audit_signing_key:
            return self.audit_signing_key_id, self.audit_signing_key
        if self.audit_signing_key_file is not None:
            return self.audit_signing_key_id, self.audit_signing_key_file.read_text()
        from domain.audit.checkpoint import new_private_pem

        path = (self.data_dir / AUDIT_KEY_FILE).resolve()
        existed = path.exists()
        pem = _read_or_create(path, new_private_pem)
        if path not in _reported:
            _reported.add(path)
            log.warning(
                "PLATINUM_AUDIT_SIGNING_KEY(_FILE) is not set: audit checkpoints are signed with"
                " the Ed25519 key %s %s. Keep it apart from the database; auditors verify with"
                " its public key (GET /v1/audit/public-keys).",
                "generated into" if not existed else "read from",
                path,
            )
        return self.audit_signing_key_id, pem + "\n"


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
