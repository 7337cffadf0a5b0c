"""Commands and queries for marketplace skills and their installations."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import semver
from eventsourcing.persistence import IntegrityError

from domain.kernel import lifecycle
from domain.kernel import validators as v
from domain.kernel.application import PlatformBase, precondition
from domain.kernel.errors import ConflictError, NotFoundError, ValidationError
from domain.kernel.ids import index_id, installation_key
from domain.kernel.index import UniqueKey
from domain.kernel.secrets import REDACTED, schema_secret_fields
from domain.marketplace.commands import (
    InstallSkill,
    PublishSkill,
    PublishSkillVersion,
    UpdateInstallation,
)
from domain.marketplace.skills import Installation, MarketplaceSkill

_ENTRY_POINT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]*$")


def _category(value: Any, pointer: str) -> str:
    return v.text(value, pointer, max_len=100)


def _description(value: Any, pointer: str) -> str:
    return v.text(value, pointer, min_len=0, max_len=10_000)


def _flag(value: Any, pointer: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError.one(pointer, "must be true or false")
    return value


def _config_for(skill: MarketplaceSkill, config: Any) -> dict[str, Any]:
    """Installation config: a JSON object valid against the skill's config schema."""
    checked = v.optional_json_object(config, "/config")
    schema = skill.config_schema
    if schema is not None:
        v.conforms(schema)(checked, "/config")
    return checked


def _skill_definition(value: Any, pointer: str = "/definition") -> dict[str, Any]:
    """A skill definition: optional ``config_schema`` and ``implementation`` (http/python)."""
    definition = v.json_object(value, pointer)
    checks = v.Checks()
    if "config_schema" in definition:
        checks.run(v.json_schema, definition["config_schema"], f"{pointer}/config_schema")
    impl = definition.get("implementation")
    ip = f"{pointer}/implementation"
    if impl is not None:
        kind = impl.get("kind") if isinstance(impl, dict) else None
        if kind == "http":
            checks.run(v.http_url, impl.get("url"), f"{ip}/url")
        elif kind == "python":
            entry = impl.get("entry_point")
            if not isinstance(entry, str) or not _ENTRY_POINT_RE.fullmatch(entry):
                checks.add(f"{ip}/entry_point", "must be an entry point name")
        else:
            checks.add(f"{ip}/kind", "must be 'http' or 'python'")
    checks.done()
    return definition


class MarketplaceCommands(PlatformBase):
    """The global skill catalogue (with review) and per-tenant installations."""

    # -- skills ----------------------------------------------------------------------------

    def publish_skill(self, cmd: PublishSkill) -> MarketplaceSkill:
        """Submit a skill for review (status ``pending``)."""
        c = v.Checks()
        name = c.run(v.name, cmd.name, "/name")
        description = c.run(_description, cmd.description, "/description")
        category = c.run(_category, cmd.category, "/category")
        definition = c.run(_skill_definition, cmd.definition, "/definition")
        version = c.run(v.semver_version, cmd.version, "/version")
        price = c.run(v.price, cmd.price, "/price")
        author = (
            None
            if cmd.author is None
            else c.run(lambda x, p: v.text(x, p, max_len=255), cmd.author, "/author")
        )
        is_public = c.run(_flag, cmd.is_public, "/is_public")
        c.done()
        skill = MarketplaceSkill(
            name=name,
            description=description,
            category=category,
            definition=definition,
            author=author,
            developer_id=cmd.developer_id,
            version=version,
            price=price,
            is_public=is_public,
            published_at=self.now(),
        )
        self._save(skill)
        return skill

    def publish_skill_version(self, cmd: PublishSkillVersion) -> MarketplaceSkill:
        """Add a strictly greater version; it goes back to review."""
        c = v.Checks()
        version = c.run(v.semver_version, cmd.version, "/version")
        definition = c.run(_skill_definition, cmd.definition, "/definition")
        c.done()
        skill = self.get_skill(cmd.skill_id)
        if semver.Version.parse(version) <= semver.Version.parse(skill.latest_version):
            raise ValidationError.one(
                "/version", f"must be greater than the current {skill.latest_version}"
            )
        skill.publish_version(version, definition, at=self.now())
        self._save(skill)
        return skill

    def get_skill(self, skill_id: UUID) -> MarketplaceSkill:
        return self._load(MarketplaceSkill, skill_id, "marketplace_skill")

    def approve_skill(self, skill_id: UUID) -> MarketplaceSkill:
        skill = self.get_skill(skill_id)
        skill.approve()
        self._save(skill)
        return skill

    def reject_skill(self, skill_id: UUID, reason: str = "") -> MarketplaceSkill:
        checked = _description(reason, "/reason")
        skill = self.get_skill(skill_id)
        skill.reject(checked)
        self._save(skill)
        return skill

    def archive_skill(self, skill_id: UUID) -> MarketplaceSkill:
        skill = self.get_skill(skill_id)
        skill.archive()
        self._save(skill)
        return skill

    def rate_skill(self, skill_id: UUID, rating: Any) -> MarketplaceSkill:
        checked = v.rating(rating, "/rating")
        skill = self.get_skill(skill_id)
        skill.rate(checked)
        self._save(skill)
        return skill

    # -- installations ---------------------------------------------------------------------

    def install_skill(self, cmd: InstallSkill) -> Installation:
        """Install an active public skill once per tenant, counting a download.

        The skill's download counter makes concurrent installs of one skill clash, and that
        clash is harmless to retry; a second install in the same tenant clashes on the index.
        """
        for _attempt in range(2):
            skill = self.get_skill(cmd.skill_id)
            if not skill.is_public:
                raise NotFoundError("marketplace_skill", cmd.skill_id)
            if not skill.is_installable:
                raise ConflictError(
                    f"skill {skill.id} is {skill.status}, not active",
                    resource_type="marketplace_skill",
                    resource_id=skill.id,
                )
            config = _config_for(skill, cmd.config)
            installation = Installation(
                tenant_id=cmd.tenant_id,
                skill_id=skill.id,
                skill_version=skill.latest_version,
                config=config,
                installed_by=cmd.installed_by,
                installed_at=self.now(),
                secret_fields=schema_secret_fields(skill.config_schema),
            )
            index = self._claim(installation_key(cmd.tenant_id, skill.id), installation)
            skill.record_download()
            try:
                self.save(installation, index, skill)
            except IntegrityError:
                continue
            return installation
        raise ConflictError(
            f"skill {cmd.skill_id} could not be installed, retry the request",
            resource_type="installation",
            resource_id=cmd.skill_id,
        )

    def _claim(self, key: str, installation: Installation) -> UniqueKey:
        index = self._find_index(index_id(key))
        if index is None:
            return UniqueKey(key=key, owner_id=installation.id, tenant_id=installation.tenant_id)
        if not index.is_free:
            raise ConflictError(
                f"skill {installation.skill_id} is already installed",
                resource_type="installation",
                resource_id=index.owner_id,
            )
        index.reclaim(installation.id)
        return index

    def get_installation(self, tenant_id: UUID, installation_id: UUID) -> Installation:
        return self._load_scoped(Installation, tenant_id, installation_id, "installation")

    def update_installation(self, cmd: UpdateInstallation) -> Installation:
        """Change config (re-validated against the skill's schema) and/or enable/disable."""
        status = None
        if cmd.status is not None:
            status = v.one_of(lifecycle.INSTALLATION.statuses)(cmd.status, "/status")
        installation = self.get_installation(cmd.tenant_id, cmd.installation_id)
        self._check_version(installation, cmd.expected_version, "installation")
        config = None
        if cmd.config is not None:
            given = cmd.config
            if isinstance(given, dict):  # a secret sent back as read (redacted) stays as it was
                given = {
                    k: installation.config[k] if v == REDACTED and k in installation.config else v
                    for k, v in given.items()
                }
            config = _config_for(self.get_skill(installation.skill_id), given)
        if status is not None and status != installation.status:
            lifecycle.INSTALLATION.check(installation.id, installation.status, status)
        if config is not None:
            skill = self.get_skill(installation.skill_id)
            installation.reconfigure(config, schema_secret_fields(skill.config_schema))
        if status is not None:
            installation.set_status(status)
        self._save(installation, precondition=precondition(cmd.expected_version, "installation"))
        return installation

    def uninstall_skill(
        self, tenant_id: UUID, installation_id: UUID, *, expected_version: int | None = None
    ) -> Installation:
        """Uninstall and free the (tenant, skill) key so the skill can be installed again."""
        installation = self.get_installation(tenant_id, installation_id)
        self._check_version(installation, expected_version, "installation")
        installation.uninstall()
        batch: list[Any] = [installation]
        index = self._find_index(index_id(installation_key(tenant_id, installation.skill_id)))
        if index is not None and index.owner_id == installation.id:
            index.release()
            batch.append(index)
        self._save(*batch, precondition=precondition(expected_version, "installation"))
        return installation
