"""Who is acting: recorded in every event's metadata so the audit log can be built from events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    """The principal behind a command, and where it came from."""

    user_id: str | None = None
    tenant_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    kind: str = "system"  # "user", "api_key", "platform_admin", "system", "worker"

    def as_meta(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


SYSTEM = Actor(kind="system")

_current: ContextVar[Actor] = ContextVar("platinum_actor", default=SYSTEM)


def current_actor() -> Actor:
    return _current.get()


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Run commands on behalf of ``actor``: every event triggered inside records it."""
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)
