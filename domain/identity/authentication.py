"""Who is calling: password logins, sessions, API keys, and the record of failed logins."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from domain.audit.sensitive_reads import SecurityEvent
from domain.identity.application import IdentityCommands
from domain.identity.commands import CreateApiKey, Login
from domain.identity.credentials import ApiKey, Session
from domain.identity.permissions import role_rank
from domain.identity.users import USER_ROLES, User
from domain.kernel import validators as v
from domain.kernel.errors import AuthenticationError, NotFoundError, ValidationError
from domain.kernel.ids import api_key_id, new_secret, secret_hash, session_id

_EVENT_PAGE = 20


class IssuedApiKey(NamedTuple):
    api_key: ApiKey
    secret: str  # shown once; only its hash is stored


class LoginResult(NamedTuple):
    token: str
    session: Session
    user: User


class AuthenticationCommands(IdentityCommands):
    """Credentials: checking a password, opening and resolving sessions, API keys."""

    # -- passwords and sessions ------------------------------------------------------------

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
