"""Base aggregate: every event carries ``meta`` (actor, ip, user agent, request id)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.kernel.actor import current_actor


class PlatinumAggregate(Aggregate):
    """Aggregate whose events record who triggered them (taken from the acting context)."""

    class Event(Aggregate.Event):
        meta: dict[str, Any]

    class Created(Event, Aggregate.Created):
        pass

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        kwargs.setdefault("meta", current_actor().as_meta())
        super().trigger_event(event_class, **kwargs)

    @classmethod
    def _create(cls, event_class: Any, *, id: UUID | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("meta", current_actor().as_meta())
        return super()._create(event_class, id=id, **kwargs)
