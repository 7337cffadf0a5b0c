"""Domain commands on the session's PostgreSQL database, written as the API process writes.

Every ``Platform`` here is built like production's: ``env=db.system.eventsourcing_env(settings)``
(role ``platinum_system``: the API's role has no privilege on event tables; AES-GCM cipher +
zlib compressor on). Reads that must prove the state
came from the database use a *fresh* ``Platform`` (``make_platform()``), never the writer.
Tests share the session database, so every test makes its own tenants (unique slugs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from api.database import Database
from domain.platform import Platform
from tests.integration.domain.pg_support import MakePlatform
from tests.support.doubles import CHEAP_HASHER, FakeClock


@pytest.fixture
def make_platform(settings: Any, db: Database, clock: FakeClock) -> Iterator[MakePlatform]:
    """A Platform per call, each with its own pool (as ``platinum_system``); closed at teardown."""
    opened: list[Platform] = []

    def make(**kwargs: Any) -> Platform:
        kwargs.setdefault("password_hasher", CHEAP_HASHER)
        kwargs.setdefault("clock", clock)
        app = Platform(env=db.system.eventsourcing_env(settings), **kwargs)
        opened.append(app)
        return app

    yield make
    for app in opened:
        app.close()


@pytest.fixture
def app(make_platform: MakePlatform) -> Platform:
    """The writer."""
    return make_platform()


@pytest.fixture
def fresh(make_platform: MakePlatform) -> Callable[[], Platform]:
    """A new Platform (new pool, empty memory) to read back what the writer stored."""
    return make_platform


@pytest.fixture
def owner_conn(db: Database) -> Iterator[psycopg.Connection[Any]]:
    """The table owner's connection, for raw reads and writes that bypass the library."""
    with psycopg.connect(db.owner.conninfo, autocommit=True) as conn:
        yield conn
