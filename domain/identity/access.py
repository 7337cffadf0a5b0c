"""Who may do what: global roles, their assignment to users, and the permissions that follow."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.identity.application import IdentityCommands
from domain.identity.commands import CreateRole, SetUserRoles
from domain.identity.permissions import (
    BUILTIN_ROLE_DESCRIPTIONS,
    BUILTIN_ROLES,
    permission_list,
    permissions_for_role,
)
from domain.identity.roles import Role
from domain.identity.users import User
from domain.kernel import validators as v
from domain.kernel.application import precondition
from domain.kernel.errors import ConflictError, NotFoundError, ValidationError
from domain.kernel.ids import index_id, role_key
from domain.kernel.index import UniqueKey


def _role_name(value: Any, pointer: str) -> str:
    return v.text(value, pointer, min_len=2, max_len=100)


def _uuid_list(value: Any, pointer: str) -> list[UUID]:
    if not isinstance(value, list | tuple):
        raise ValidationError.one(pointer, "must be a list of ids")
    ids: list[UUID] = []
    for i, item in enumerate(value):
        try:
            ids.append(item if isinstance(item, UUID) else UUID(str(item)))
        except ValueError:
            raise ValidationError.one(f"{pointer}/{i}", "must be a UUID") from None
    if len(set(ids)) != len(ids):
        raise ValidationError.one(pointer, "must not repeat an id")
    return ids


class AccessCommands(IdentityCommands):
    """Roles (built-in and custom), users' role assignments and effective permissions."""

    def create_role(self, cmd: CreateRole, *, builtin: bool = False) -> Role:
        """Create a global role; its name is unique system-wide, case-insensitively."""
        c = v.Checks()
        name = c.run(_role_name, cmd.name, "/name")
        description = c.run(
            lambda x, p: v.text(x, p, min_len=0, max_len=10_000), cmd.description, "/description"
        )
        permissions = c.run(permission_list, cmd.permissions, "/permissions")
        c.done()
        role = Role(name=name, description=description, permissions=permissions, builtin=builtin)
        index = UniqueKey(key=role_key(name.lower()), owner_id=role.id, tenant_id=None)
        self._save(
            role,
            index,
            conflict=ConflictError(f"role {name!r} exists", resource_type="role", resource_id=name),
        )
        return role

    def seed_builtin_roles(self) -> list[Role]:
        """Create admin/manager/user/viewer with the matrix's permissions; idempotent."""
        roles = []
        for name in reversed(BUILTIN_ROLES):
            try:
                roles.append(self.get_role_by_name(name))
                continue
            except NotFoundError:
                pass
            cmd = CreateRole(
                name=name,
                description=BUILTIN_ROLE_DESCRIPTIONS[name],
                permissions=sorted(permissions_for_role(name)),
            )
            try:
                roles.append(self.create_role(cmd, builtin=True))
            except ConflictError:  # another process seeded it meanwhile
                roles.append(self.get_role_by_name(name))
        return roles

    def get_role(self, role_id: UUID) -> Role:
        return self._load(Role, role_id, "role")

    def get_role_by_name(self, name: str) -> Role:
        index = self._find_index(index_id(role_key(name.lower())))
        if index is None or index.owner_id is None:
            raise NotFoundError("role", name)
        return self.get_role(index.owner_id)

    def is_known_role(self, name: str) -> bool:
        """Whether ``name`` (any case, outer spaces ignored) is a built-in or custom role."""
        name = name.strip().casefold()
        if name in BUILTIN_ROLES:
            return True
        try:
            self.get_role_by_name(name)
        except NotFoundError:
            return False
        return True

    def set_user_roles(self, cmd: SetUserRoles) -> User:
        """Replace the user's role assignments; unchanged roles keep their assigned_at."""
        role_ids = _uuid_list(cmd.role_ids, "/role_ids")
        c = v.Checks()
        for i, role_id in enumerate(role_ids):
            try:
                self.get_role(role_id)
            except NotFoundError:
                c.add(f"/role_ids/{i}", f"unknown role {role_id}")
        c.done()
        user = self.get_user(cmd.tenant_id, cmd.user_id)
        self._check_version(user, cmd.expected_version, "user")
        if set(role_ids) == set(user.role_ids):
            return user
        held = {a["role_id"]: a for a in user.role_assignments}
        now = self.now()
        assignments = [
            held.get(rid) or {"role_id": rid, "assigned_by": cmd.assigned_by, "assigned_at": now}
            for rid in role_ids
        ]
        user.assign_roles(assignments=assignments)
        self._save(user, precondition=precondition(cmd.expected_version, "user"))
        return user

    def effective_permissions(self, user: User) -> frozenset[str]:
        """The built-in role's permissions plus those of every assigned role."""
        granted = set(permissions_for_role(user.role))
        for role_id in user.role_ids:
            try:
                granted.update(self.get_role(role_id).permissions)
            except NotFoundError:
                continue
        return frozenset(granted)
