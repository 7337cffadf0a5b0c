"""Marketplace skills (global, reviewed) and their installations in tenants."""

from __future__ import annotations

from copy import deepcopy
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.kernel import lifecycle
from domain.kernel.base import PlatinumAggregate
from domain.kernel.errors import ConflictError


class MarketplaceSkill(PlatinumAggregate):
    """A published skill; every new version goes back to review (``pending``)."""

    @event("Published")
    def __init__(
        self,
        name: str,
        description: str,
        category: str,
        definition: dict[str, Any],
        author: str | None,
        developer_id: UUID | None,
        version: str,
        price: Decimal,
        is_public: bool,
        published_at: datetime,
    ) -> None:
        self.name = name
        self.description = description
        self.category = category
        self.author = author
        self.developer_id = developer_id
        self.price = price
        self.is_public = is_public
        self.rating: Decimal | None = None
        self.downloads = 0
        self.status = lifecycle.SKILL.initial
        self.review_reason: str | None = None
        self.versions: list[dict[str, Any]] = []
        self._add_version(version, definition, published_at)

    def _add_version(self, version: str, definition: dict[str, Any], at: datetime) -> None:
        self.latest_version = version
        self.definition = deepcopy(definition)
        self.versions.append(
            {"version": version, "definition": deepcopy(definition), "published_at": at}
        )

    @property
    def config_schema(self) -> dict[str, Any] | None:
        schema = self.definition.get("config_schema")
        return schema if isinstance(schema, dict) else None

    @property
    def is_installable(self) -> bool:
        return self.status == "active" and self.is_public

    def publish_version(self, version: str, definition: dict[str, Any], at: datetime) -> None:
        """Add a version (must be semver-greater, checked by the caller) and resubmit."""
        lifecycle.SKILL.check(self.id, self.status, "pending")
        self._version_published(version=version, definition=definition, at=at)

    @event("VersionPublished")
    def _version_published(self, version: str, definition: dict[str, Any], at: datetime) -> None:
        self._add_version(version, definition, at)
        self.status = "pending"
        self.review_reason = None

    def approve(self) -> None:
        lifecycle.SKILL.check(self.id, self.status, "active")
        self._approved()

    @event("Approved")
    def _approved(self) -> None:
        self.status = "active"
        self.review_reason = None

    def reject(self, reason: str) -> None:
        lifecycle.SKILL.check(self.id, self.status, "rejected")
        self._rejected(reason=reason)

    @event("Rejected")
    def _rejected(self, reason: str) -> None:
        self.status = "rejected"
        self.review_reason = reason

    def archive(self) -> None:
        lifecycle.SKILL.check(self.id, self.status, "archived")
        self._archived()

    @event("Archived")
    def _archived(self) -> None:
        self.status = "archived"

    @event("Rated")
    def rate(self, rating: Decimal) -> None:
        self.rating = rating

    @event("Downloaded")
    def record_download(self) -> None:
        self.downloads += 1


class Installation(PlatinumAggregate):
    """A skill installed in a tenant, with config valid against the skill's schema."""

    @event("Installed")
    def __init__(
        self,
        tenant_id: UUID,
        skill_id: UUID,
        skill_version: str,
        config: dict[str, Any],
        installed_by: UUID | None,
        installed_at: datetime,
        secret_fields: list[str] | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.skill_id = skill_id
        self.skill_version = skill_version
        self.config = deepcopy(config)
        self.installed_by = installed_by
        self.installed_at = installed_at
        self.status = lifecycle.INSTALLATION.initial
        self.uninstalled = False
        # the config fields the skill's schema marks secret (domain.kernel.secrets, rule 3)
        self.secret_fields = list(secret_fields or [])

    def _check_installed(self) -> None:
        if self.uninstalled:
            raise ConflictError(
                f"installation {self.id} was uninstalled",
                resource_type="installation",
                resource_id=self.id,
            )

    def reconfigure(self, config: dict[str, Any], secret_fields: list[str] | None = None) -> None:
        self._check_installed()
        if config != self.config:
            self._reconfigured(config=config, secret_fields=list(secret_fields or []))

    @event("Reconfigured")
    def _reconfigured(self, config: dict[str, Any], secret_fields: list[str] | None = None) -> None:
        self.config = deepcopy(config)
        self.secret_fields = list(secret_fields or [])

    def set_status(self, status: str) -> None:
        self._check_installed()
        if status != self.status:
            lifecycle.INSTALLATION.check(self.id, self.status, status)
            self._status_changed(status=status)

    @event("StatusChanged")
    def _status_changed(self, status: str) -> None:
        self.status = status

    def uninstall(self) -> None:
        self._check_installed()
        self._uninstalled()

    @event("Uninstalled")
    def _uninstalled(self) -> None:
        self.uninstalled = True
        self.status = "disabled"
