"""The domain's test doubles, one of each: a settable clock and the cheapest password hasher."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher, profiles

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
