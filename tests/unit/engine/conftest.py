"""Fixtures of the engine's unit tests: an in-memory Platform (no PostgreSQL)."""

from __future__ import annotations

import pytest

from domain.platform import Platform
from tests.support.doubles import CHEAP_HASHER, IN_MEMORY


@pytest.fixture
def platform() -> Platform:
    """A Platform on the in-memory store, with the cheapest password hasher."""
    return Platform(IN_MEMORY, password_hasher=CHEAP_HASHER)
