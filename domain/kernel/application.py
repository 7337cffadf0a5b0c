"""Shared plumbing of the ``Platform`` application: loading, fencing, saving, clock."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import EnvType

from domain.kernel import validators as v
from domain.kernel.base import PlatinumAggregate
from domain.kernel.clock import Clock, utc_now
from domain.kernel.errors import (
    ConflictError,
    NotFoundError,
    Problem,
    StaleVersionError,
    ValidationError,
)
from domain.kernel.index import UniqueKey
from domain.kernel.personal_data import ShreddingApplication

A = TypeVar("A", bound=PlatinumAggregate)

DefinitionValidator = Callable[[dict[str, Any], UUID], list[Problem]]
"""Checks a workflow definition for a tenant; returns its problems.

Pointers are relative to the definition; the domain prefixes them with ``/definition``.
"""


def no_definition_rules(definition: dict[str, Any], tenant_id: UUID) -> list[Problem]:  # noqa: ARG001
    """Default validator: accepts any JSON object (the engine supplies the real rules)."""
    return []


def precondition(expected: int | None, resource_type: str) -> tuple[int, str] | None:
    """``_save``'s precondition for an If-Match version (None: the write is unconditional)."""
    return None if expected is None else (expected, resource_type)


def _concurrent_write(aggregate: PlatinumAggregate) -> ConflictError:
    """The conflict of a save that lost a race, naming the aggregate that was written."""
    resource_type = re.sub(r"(?<!^)(?=[A-Z])", "_", type(aggregate).__name__).lower()
    return ConflictError(
        f"{resource_type} {aggregate.id} was written concurrently, retry the request",
        resource_type=resource_type,
        resource_id=aggregate.id,
    )


class PlatformBase(ShreddingApplication):
    """Helpers for the command mixins; not an application on its own."""

    def __init__(
        self,
        env: EnvType | None = None,
        *,
        definition_validator: DefinitionValidator | None = None,
        password_hasher: PasswordHasher | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(env)
        self.definition_validator = definition_validator or no_definition_rules
        # argon2id with the library's RFC 9106 defaults; tests pass a cheap hasher
        self.password_hasher = password_hasher or PasswordHasher()
        self.clock = clock or utc_now
        self._dummy_hash: str | None = None

    def now(self) -> datetime:
        return self.clock()

    def _load(self, cls: type[A], aggregate_id: UUID, resource_type: str) -> A:
        """Load an aggregate of ``cls``; a missing id or another type is NotFound."""
        try:
            aggregate: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFoundError(resource_type, aggregate_id) from None
        if not isinstance(aggregate, cls):
            raise NotFoundError(resource_type, aggregate_id)
        return aggregate

    def _load_scoped(
        self, cls: type[A], tenant_id: UUID, aggregate_id: UUID, resource_type: str
    ) -> A:
        """Load a tenant-scoped aggregate; another tenant's is reported exactly as missing."""
        aggregate = self._load(cls, aggregate_id, resource_type)
        if getattr(aggregate, "tenant_id", None) != tenant_id:
            raise NotFoundError(resource_type, aggregate_id)
        return aggregate

    def _find_index(self, key_id: UUID) -> UniqueKey | None:
        try:
            index: Any = self.repository.get(key_id)
        except AggregateNotFoundError:
            return None
        return index if isinstance(index, UniqueKey) else None

    def _record(self, processing_event: Any) -> Any:
        """Refuse, before anything is stored, an event holding NUL or a lone surrogate.

        Validators refuse such text where commands take it; this is the net under every other
        path into the platform's events, so no event the projections cannot store is written.
        """
        for domain_event in processing_event.events:
            problem = v.unstorable(vars(domain_event))
            if problem is not None:
                raise ValidationError([problem])
        return super()._record(processing_event)

    def _save(
        self,
        *aggregates: PlatinumAggregate,
        conflict: ConflictError | None = None,
        precondition: tuple[int, str] | None = None,
    ) -> None:
        """Save atomically; a version clash (duplicate key or concurrent write) -> Conflict.

        ``precondition`` is the caller's ``(expected version, resource type)`` for the first
        aggregate (If-Match, already checked against the loaded state): if a concurrent write
        moved that aggregate on before this save, the precondition failed at the save, which
        is a ``StaleVersionError`` (412), not a conflict (409).
        """
        try:
            self.save(*aggregates)
        except IntegrityError:
            if precondition is not None:
                self._raise_if_moved_on(aggregates[0], *precondition)
            raise (conflict or _concurrent_write(aggregates[0])) from None

    def _raise_if_moved_on(
        self, aggregate: PlatinumAggregate, expected: int, resource_type: str
    ) -> None:
        """StaleVersionError if the stored aggregate is past ``expected`` (a save lost a race)."""
        last = list(self.recorder.select_events(aggregate.id, desc=True, limit=1))
        stored = last[0].originator_version if last else 0
        if stored != expected:
            raise StaleVersionError(resource_type, aggregate.id, expected, stored) from None

    @staticmethod
    def _check_version(
        aggregate: PlatinumAggregate, expected: int | None, resource_type: str
    ) -> None:
        if expected is not None and expected != aggregate.version:
            raise StaleVersionError(resource_type, aggregate.id, expected, aggregate.version)

    def _verify_password(self, password_hash: str | None, password: str) -> bool:
        """argon2 verify; without a hash, verify against a dummy so timing stays uniform."""
        if password_hash is None:
            if self._dummy_hash is None:
                self._dummy_hash = self.password_hasher.hash("platinum-timing-dummy")
            password_hash = self._dummy_hash
            password = password + "\x00"  # can never match the dummy
        try:
            return self.password_hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
