"""Commands and queries for tenants, users and user preferences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.identity.commands import (
    ChangePassword,
    CreateTenant,
    RegisterUser,
    SetPreference,
    UpdateTenant,
    UpdateUser,
)
from domain.identity.tenants import Tenant
from domain.identity.users import USER_ROLES, User, UserPreference
from domain.kernel import lifecycle, retention
from domain.kernel import validators as v
from domain.kernel.application import PlatformBase, precondition
from domain.kernel.errors import ConflictError, NotFoundError, ValidationError
from domain.kernel.ids import email_key, index_id, preference_id, slug_key
from domain.kernel.index import UniqueKey
from domain.kernel.shredding import digest

_role = v.one_of(USER_ROLES)
_user_status = v.one_of(lifecycle.USER.statuses)


@dataclass(frozen=True)
class TenantWithAdmin:
    tenant: Tenant
    admin: User | None


def _preference_value(value: Any, pointer: str) -> str:
    return v.text(value, pointer, min_len=0, max_len=10_000)


class IdentityCommands(PlatformBase):
    """Tenants, their users and the users' preferences."""

    # -- tenants ---------------------------------------------------------------------------

    def create_tenant(self, cmd: CreateTenant) -> TenantWithAdmin:
        """Create a tenant and, if admin credentials are given, its first admin user."""
        c = v.Checks()
        name = c.run(v.name, cmd.name, "/name")
        slug = c.run(v.slug, cmd.slug, "/slug")
        config = c.run(v.optional_json_object, cmd.config, "/config")
        billing_info = c.run(v.optional_json_object, cmd.billing_info, "/billing_info")
        with_admin = cmd.admin_email is not None or cmd.admin_password is not None
        if with_admin:
            email = c.run(v.email, cmd.admin_email, "/admin_email")
            password = c.run(v.password, cmd.admin_password, "/admin_password")
            admin_name = c.run(v.name, cmd.admin_name, "/admin_name")
        c.done()

        tenant = Tenant(name=name, slug=slug, config=config, billing_info=billing_info)
        batch: list[Any] = [
            tenant,
            UniqueKey(key=slug_key(slug), owner_id=tenant.id, tenant_id=tenant.id),
        ]
        admin = None
        if with_admin:
            admin = User(
                tenant_id=tenant.id,
                email=email,
                password_hash=self.password_hasher.hash(password),
                name=admin_name,
                role="admin",
                status="active",
            )
            batch += [
                admin,
                UniqueKey(
                    key=self.email_index_key(tenant.id, email),
                    owner_id=admin.id,
                    tenant_id=tenant.id,
                ),
            ]
        self._save(
            *batch,
            conflict=ConflictError(
                f"slug {slug!r} is taken", resource_type="tenant", resource_id=slug
            ),
        )
        return TenantWithAdmin(tenant, admin)

    def get_tenant(self, tenant_id: UUID) -> Tenant:
        return self._load(Tenant, tenant_id, "tenant")

    def get_tenant_by_slug(self, slug: str) -> Tenant:
        index = self._find_index(index_id(slug_key(slug)))
        if index is None or index.owner_id is None:
            raise NotFoundError("tenant", slug)
        return self.get_tenant(index.owner_id)

    def update_tenant(self, cmd: UpdateTenant) -> Tenant:
        """Change name/config/billing_info/status (PATCH semantics: None = unchanged)."""
        c = v.Checks()
        name = None if cmd.name is None else c.run(v.name, cmd.name, "/name")
        config = None if cmd.config is None else c.run(v.json_object, cmd.config, "/config")
        billing = (
            None
            if cmd.billing_info is None
            else c.run(v.json_object, cmd.billing_info, "/billing_info")
        )
        status = (
            None
            if cmd.status is None
            else c.run(v.one_of(lifecycle.TENANT.statuses), cmd.status, "/status")
        )
        c.done()
        tenant = self.get_tenant(cmd.tenant_id)
        self._check_version(tenant, cmd.expected_version, "tenant")
        if status is not None and status != tenant.status:
            lifecycle.TENANT.check(tenant.id, tenant.status, status)
        tenant.update(name=name, config=config, billing_info=billing)
        if status is not None and status != tenant.status:
            tenant.set_status(status)
        self._save(tenant, precondition=precondition(cmd.expected_version, "tenant"))
        return tenant

    def set_tenant_status(self, tenant_id: UUID, status: str) -> Tenant:
        return self.update_tenant(UpdateTenant(tenant_id=tenant_id, status=status))

    def set_tenant_config(self, tenant_id: UUID, key: str, value: Any) -> Tenant:
        c = v.Checks()
        key = c.run(v.key, key, "/key")
        value = c.run(v.json_value, value, "/value")
        c.done()
        if key in retention.CHECKS:
            value = retention.CHECKS[key](value, "/value")
        tenant = self.get_tenant(tenant_id)
        tenant.set_config(key, value)
        self._save(tenant)
        return tenant

    def unset_tenant_config(self, tenant_id: UUID, key: str) -> Tenant:
        tenant = self.get_tenant(tenant_id)
        tenant.unset_config(key)
        self._save(tenant)
        return tenant

    def get_tenant_config(self, tenant_id: UUID, key: str) -> Any:
        tenant = self.get_tenant(tenant_id)
        if key not in tenant.config:
            raise NotFoundError("tenant_config", key)
        return tenant.config[key]

    # -- users -----------------------------------------------------------------------------

    def register_user(self, cmd: RegisterUser) -> User:
        """Create a user; the email is unique within the tenant."""
        c = v.Checks()
        email = c.run(v.email, cmd.email, "/email")
        name = c.run(v.name, cmd.name, "/name")
        role = c.run(_role, cmd.role, "/role")
        status = c.run(_user_status, cmd.status, "/status")
        password = None
        if cmd.password is not None or status != "invited":
            password = c.run(v.password, cmd.password, "/password")
        c.done()
        tenant = self.get_tenant(cmd.tenant_id)
        if lifecycle.TENANT.is_final(tenant.status):
            raise ConflictError(
                f"tenant {tenant.id} is {tenant.status}",
                resource_type="tenant",
                resource_id=tenant.id,
            )
        if self._email_taken_before(tenant.id, email):
            raise ConflictError(
                f"email {email!r} is already registered", resource_type="user", resource_id=email
            )
        user = User(
            tenant_id=tenant.id,
            email=email,
            password_hash=None if password is None else self.password_hasher.hash(password),
            name=name,
            role=role,
            status=status,
        )
        key = self.email_index_key(tenant.id, email)
        index = self._find_index(index_id(key))
        if index is not None and index.is_free:  # the address of an erased user
            index.reclaim(owner_id=user.id)
        else:  # a taken key clashes at the save
            index = UniqueKey(key=key, owner_id=user.id, tenant_id=tenant.id)
        self._save(
            user,
            index,
            conflict=ConflictError(
                f"email {email!r} is already registered", resource_type="user", resource_id=email
            ),
        )
        return user

    def get_user(self, tenant_id: UUID, user_id: UUID) -> User:
        return self._load_scoped(User, tenant_id, user_id, "user")

    def find_user_by_email(self, tenant_id: UUID, email: str) -> User | None:
        """The tenant's user with this email (any case), or None."""
        try:
            normalised = v.email(email, "/email")
        except ValidationError:
            return None
        for key in self._email_keys(tenant_id, normalised):
            index = self._find_index(index_id(key))
            if index is not None and index.owner_id is not None:
                return self.get_user(tenant_id, index.owner_id)
        return None

    def email_index_key(self, tenant_id: UUID, email: str) -> str:
        """The email index's key: a keyed digest of the address (no address in any event)."""
        if self.subject_keys is None:
            return email_key(tenant_id, email)
        return f"email:{tenant_id}:hmac:{digest(self.subject_keys.lookup_key, email)}"

    def _email_keys(self, tenant_id: UUID, email: str) -> list[str]:
        """Every key the address may be indexed under: the digest, then the clear-text key of
        users registered before personal data was sealed."""
        keys = [self.email_index_key(tenant_id, email), email_key(tenant_id, email)]
        return list(dict.fromkeys(keys))

    def _email_taken_before(self, tenant_id: UUID, email: str) -> bool:
        """The address is held by a user registered under the old clear-text index key."""
        legacy = self._find_index(index_id(email_key(tenant_id, email)))
        return self.subject_keys is not None and legacy is not None and not legacy.is_free

    def erase_user(self, tenant_id: UUID, user_id: UUID) -> User:
        """Erase a user's personal data (GDPR Art. 17): free their email, end their sessions and
        API keys, record ``User.Erased``, then destroy their key. Idempotent."""
        user = self.get_user(tenant_id, user_id)
        if not user.erased:
            batch: list[Any] = [user]
            for key in self._email_keys(tenant_id, user.email):
                index = self._find_index(index_id(key))
                if index is not None and index.owner_id == user.id:
                    index.release()
                    batch.append(index)
            user.erase()
            self._save(*batch)
        if self.subject_keys is not None:
            self.subject_keys.destroy(str(user.id), str(tenant_id))
        return user

    def update_user(self, cmd: UpdateUser) -> User:
        """Change name, built-in role and/or status (legal transitions only)."""
        c = v.Checks()
        name = None if cmd.name is None else c.run(v.name, cmd.name, "/name")
        role = None if cmd.role is None else c.run(_role, cmd.role, "/role")
        status = None if cmd.status is None else c.run(_user_status, cmd.status, "/status")
        c.done()
        user = self.get_user(cmd.tenant_id, cmd.user_id)
        self._check_version(user, cmd.expected_version, "user")
        if status is not None and status != user.status:
            lifecycle.USER.check(user.id, user.status, status)
        user.update(name=name, role=role)
        if status is not None:
            user.set_status(status)
        self._save(user, precondition=precondition(cmd.expected_version, "user"))
        return user

    def change_password(self, cmd: ChangePassword) -> User:
        password = v.password(cmd.new_password, "/new_password")
        user = self.get_user(cmd.tenant_id, cmd.user_id)
        user.change_password(password_hash=self.password_hasher.hash(password))
        self._save(user)
        return user

    def record_login(self, tenant_id: UUID, user_id: UUID) -> User:
        user = self.get_user(tenant_id, user_id)
        user.record_login(at=self.now())
        self._save(user)
        return user

    # -- preferences -----------------------------------------------------------------------

    def set_preference(self, cmd: SetPreference) -> UserPreference:
        """Create or replace a preference.

        Two writes racing on one key never overwrite each other silently: the one whose save
        clashes (the key's aggregate has a deterministic id) gets a ConflictError (HTTP 409).
        """
        c = v.Checks()
        key = c.run(v.key, cmd.key, "/key")
        value = c.run(_preference_value, cmd.value, "/value")
        c.done()
        self.get_user(cmd.tenant_id, cmd.user_id)
        preference = self._find_preference(cmd.tenant_id, cmd.user_id, key)
        if preference is None:
            preference = UserPreference(
                tenant_id=cmd.tenant_id, user_id=cmd.user_id, key=key, value=value
            )
        else:
            preference.set_value(value)
        self._save(
            preference,
            conflict=ConflictError(
                f"preference {key!r} was written concurrently; retry the request",
                resource_type="preference",
                resource_id=key,
            ),
        )
        return preference

    def _find_preference(self, tenant_id: UUID, user_id: UUID, key: str) -> UserPreference | None:
        try:
            return self._load_scoped(
                UserPreference, tenant_id, preference_id(user_id, key), "preference"
            )
        except NotFoundError:
            return None

    def get_preference(self, tenant_id: UUID, user_id: UUID, key: str) -> UserPreference:
        preference = self._find_preference(tenant_id, user_id, key)
        if preference is None or preference.is_deleted:
            raise NotFoundError("preference", key)
        return preference

    def delete_preference(self, tenant_id: UUID, user_id: UUID, key: str) -> None:
        """Delete; the key is free again and a later set revives the same aggregate."""
        preference = self.get_preference(tenant_id, user_id, key)
        preference.delete()
        self._save(preference)
