"""Commands and queries for roles, authentication, login sessions and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from domain.audit.sensitive_reads import SecurityEvent
from domain.identity.application import IdentityCommands
from domain.identity.commands import CreateApiKey, CreateRole, Login, OpenSession, SetUserRoles
from domain.identity.credentials import ApiKey, Session
from domain.identity.permissions import (
    BUILTIN_ROLE_DESCRIPTIONS,
    BUILTIN_ROLES,
    permissions_for_role,
    role_rank,
)
from domain.identity.roles import Role
from domain.identity.users import USER_ROLES, User
from domain.kernel import validators as v
from domain.kernel.application import precondition
from domain.kernel.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from domain.kernel.ids import api_key_id, index_id, new_secret, role_key, secret_hash, session_id
from domain.kernel.index import UniqueKey

_EVENT_PAGE = 20


class IssuedSession(NamedTuple):
    session: Session
    token: str  # shown once; only its hash is stored


class IssuedApiKey(NamedTuple):
    api_key: ApiKey
    secret: str  # shown once; only its hash is stored


class LoginResult(NamedTuple):
    token: str
    session: Session
    user: User


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
    """Roles, credentials and authentication."""

    # -- roles -----------------------------------------------------------------------------

    def create_role(self, cmd: CreateRole, *, builtin: bool = False) -> Role:
        """Create a global role; its name is unique system-wide, case-insensitively."""
        c = v.Checks()
        name = c.run(_role_name, cmd.name, "/name")
        description = c.run(
            lambda x, p: v.text(x, p, min_len=0, max_len=10_000), cmd.description, "/description"
        )
        permissions = c.run(v.permissions, cmd.permissions, "/permissions")
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

    # -- authentication and sessions -------------------------------------------------------

    def authenticate(self, tenant_slug: str, email: str, password: str) -> User:
        """The active user of an active tenant with these credentials, or AuthenticationError.

        Every failure looks the same and costs one argon2 verify, so neither the message
        nor the timing tells which part was wrong.
        """
        user: User | None = None
        try:
            tenant = self.get_tenant_by_slug(tenant_slug) if isinstance(tenant_slug, str) else None
            if tenant is not None and tenant.is_active and isinstance(email, str):
                user = self.find_user_by_email(tenant.id, email)
        except NotFoundError:
            user = None
        password_hash = user.password_hash if user is not None else None
        ok = self._verify_password(password_hash, password if isinstance(password, str) else "")
        if user is None or not ok or user.status != "active":
            raise AuthenticationError
        return user

    def record_failed_login(self, tenant_slug: Any, email: Any) -> SecurityEvent:
        """Record a failed login as a security event of the tenant it named (none if no such
        tenant), with the account's user id when the address is a user's; the typed address
        and password are never stored."""
        tenant_id: UUID | None = None
        user_id: UUID | None = None
        try:
            if isinstance(tenant_slug, str):
                tenant_id = self.get_tenant_by_slug(tenant_slug).id
            if tenant_id is not None and isinstance(email, str):
                user = self.find_user_by_email(tenant_id, email)
                user_id = None if user is None else user.id
        except (NotFoundError, ValidationError):
            pass
        recorded = SecurityEvent(tenant_id=tenant_id, kind="login_failed", user_id=user_id)
        self.save(recorded)
        return recorded

    def login(self, cmd: Login) -> LoginResult:
        """Authenticate, record the login and open a session in one save."""
        user = self.authenticate(cmd.tenant_slug, cmd.email, cmd.password)
        now = self.now()
        if user.password_hash and self.password_hasher.check_needs_rehash(user.password_hash):
            # parameters were raised since this hash was made: upgrade it while we have it
            user.change_password(password_hash=self.password_hasher.hash(cmd.password))
        user.record_login(at=now)
        token = new_secret()
        session = Session(
            tenant_id=user.tenant_id,
            user_id=user.id,
            token_hash=secret_hash(token),
            expires_at=now + cmd.ttl,
            user_generation=user.session_generation,
            tenant_generation=self.get_tenant(user.tenant_id).session_generation,
        )
        self._save(user, session)
        return LoginResult(token=token, session=session, user=user)

    def open_session(self, cmd: OpenSession) -> IssuedSession:
        user = self.get_user(cmd.tenant_id, cmd.user_id)
        token = new_secret()
        session = Session(
            tenant_id=user.tenant_id,
            user_id=user.id,
            token_hash=secret_hash(token),
            expires_at=self.now() + cmd.ttl,
            user_generation=user.session_generation,
            tenant_generation=self.get_tenant(user.tenant_id).session_generation,
        )
        self._save(session)
        return IssuedSession(session=session, token=token)

    def resolve_session(self, token: str) -> tuple[Session, User]:
        """The live session for a bearer token and its (active) user, else 401.

        A session is dead once its user or tenant revoked sessions after it was opened
        (deactivation, suspension, a role change): reactivation does not revive it.
        """
        try:
            session = self._load(Session, session_id(secret_hash(token)), "session")
            user = self.get_user(session.tenant_id, session.user_id)
            tenant = self.get_tenant(session.tenant_id)
        except NotFoundError:
            raise AuthenticationError from None
        if (
            not session.is_valid(self.now())
            or user.status != "active"
            or not tenant.is_active
            or getattr(session, "user_generation", 0) != user.session_generation
            or getattr(session, "tenant_generation", 0) != tenant.session_generation
            or self._password_changed_since(user.id, session.created_on)
        ):
            raise AuthenticationError
        return session, user

    def _password_changed_since(self, user_id: UUID, since: datetime) -> bool:
        """Whether the user's password changed after ``since`` (a session's start).

        A password change ends every session opened before it. The user's events are read
        newest first, a page at a time, stopping at the first one older than the session, so
        only the events since the login are read.
        """
        lte: int | None = None
        while True:
            page = list(self.events.get(user_id, desc=True, limit=_EVENT_PAGE, lte=lte))
            for event in page:
                if getattr(event, "timestamp", since) <= since:
                    return False
                if type(event).__qualname__ == "User.PasswordChanged":
                    return True
            if len(page) < _EVENT_PAGE:
                return False
            lte = page[-1].originator_version - 1

    def revoke_session(self, token: str) -> None:
        """Log out; an unknown token is ignored so logout is idempotent."""
        try:
            session = self._load(Session, session_id(secret_hash(token)), "session")
        except NotFoundError:
            return
        session.revoke()
        self._save(session)

    # -- API keys --------------------------------------------------------------------------

    def create_api_key(self, cmd: CreateApiKey) -> IssuedApiKey:
        c = v.Checks()
        name = c.run(lambda x, p: v.text(x, p, max_len=255), cmd.name, "/name")
        role = c.run(v.one_of(USER_ROLES), cmd.role, "/role")
        c.done()
        self.get_tenant(cmd.tenant_id)
        generation = 0
        if cmd.created_by is not None:
            generation = self.get_user(cmd.tenant_id, cmd.created_by).api_key_generation
        secret = new_secret()
        api_key = ApiKey(
            tenant_id=cmd.tenant_id,
            name=name,
            role=role,
            secret_hash=secret_hash(secret),
            created_by=cmd.created_by,
            creator_generation=generation,
        )
        self._save(api_key)
        return IssuedApiKey(api_key=api_key, secret=secret)

    def get_api_key(self, tenant_id: UUID, key_id: UUID) -> ApiKey:
        return self._load_scoped(ApiKey, tenant_id, key_id, "api_key")

    def resolve_api_key(self, secret: str) -> ApiKey:
        """The unrevoked API key for a bearer secret, else 401."""
        try:
            api_key = self._load(ApiKey, api_key_id(secret_hash(secret)), "api_key")
        except NotFoundError:
            raise AuthenticationError from None
        if api_key.revoked:
            raise AuthenticationError
        if api_key.created_by is not None:
            try:
                creator = self.get_user(api_key.tenant_id, api_key.created_by)
            except NotFoundError:
                raise AuthenticationError from None
            if (
                creator.status != "active"
                or getattr(api_key, "creator_generation", 0) != creator.api_key_generation
            ):
                raise AuthenticationError  # the creator was deactivated since: the key stops
        return api_key

    def api_key_role(self, api_key: ApiKey) -> str:
        """The role an API key acts with: its own, capped at its creator's current built-in
        role (a key never exceeds the user who made it); keys made by the platform admin
        keep their own role."""
        if api_key.created_by is None:
            return api_key.role
        creator = self.get_user(api_key.tenant_id, api_key.created_by)
        if role_rank(creator.role) < role_rank(api_key.role):
            return creator.role
        return api_key.role

    def revoke_api_key(self, tenant_id: UUID, key_id: UUID) -> ApiKey:
        api_key = self.get_api_key(tenant_id, key_id)
        api_key.revoke()
        self._save(api_key)
        return api_key
