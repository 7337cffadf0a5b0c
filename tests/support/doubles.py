"""The domain's test doubles, one of each: a settable clock, the cheapest hasher, subject keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher, profiles

from domain.kernel.shredding import new_data_key

IN_MEMORY = {"PLATFORM_PERSISTENCE_MODULE": "eventsourcing.popo"}
"""The environment of an in-memory ``Platform``: the prefixed name beats any the shell exports."""

CHEAP_HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)
"""Argon2 at its cheapest: the tests hash many passwords and test no hashing cost."""

PASSWORD = "correct horse battery"
"""The password the domain tests register their users with."""


class FakeClock:
    """A settable clock: times read back (from memory or the database) compare exactly."""

    START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

    def __init__(self) -> None:
        self.now = self.START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class FakeSubjectKeys:
    """``SubjectKeys`` in memory (``SUBJECT_KEYS_TOPIC=tests.support.doubles:FakeSubjectKeys``)
    for in-memory applications; PostgreSQL's is ``api.subject_keys``."""

    def __init__(self, env: Any = None, factory: Any = None) -> None:
        _ = (env, factory)
        self.lookup_key = b"k" * 32
        self.keys: dict[str, bytes | None] = {}

    def data_key(
        self, subject_id: str, tenant_id: str | None, *, create: bool, kind: str = "user"
    ) -> bytes | None:
        _ = tenant_id, kind
        if subject_id not in self.keys and create:
            self.keys[subject_id] = new_data_key()
        return self.keys.get(subject_id)

    def destroy(self, subject_id: str, tenant_id: str | None, *, kind: str = "user") -> None:
        _ = tenant_id, kind
        self.keys[subject_id] = None


SEALED = {"SUBJECT_KEYS_TOPIC": "tests.support.doubles:FakeSubjectKeys"}
"""The environment of an in-memory application that seals personal data."""
