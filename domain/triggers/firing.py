"""Which ticks of a schedule to fire now: the catch-up policy over the ticks that fell due.

Pure: given the schedule's cron, the last tick already handled (``after``) and ``now``, it
returns the ticks to fire (oldest first) and those to skip. A tick is *on time* while less
than ``grace`` has passed since it; older due ticks were *missed* (the tickers were down or
behind). ``none`` fires only on-time ticks; ``last`` fires the newest due tick, on time or
not; ``all`` fires every due tick, at most ``limit`` (the newest ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.triggers.cron import ticks_between

CATCHUP_LIMIT = 100
"""At most this many ticks are looked at (and so fired by ``all``) in one pass."""

GRACE = timedelta(seconds=10)
"""A tick fired within this of its time is on time; later it is a missed tick."""


@dataclass(frozen=True)
class Plan:
    fire: list[datetime]
    skip: list[datetime]

    @property
    def last(self) -> datetime | None:
        """The newest tick this plan handles (the cursor after it)."""
        ticks = self.fire + self.skip
        return max(ticks) if ticks else None


def plan(
    cron: str,
    timezone: str,
    catchup: str,
    *,
    after: datetime,
    now: datetime,
    limit: int = CATCHUP_LIMIT,
    grace: timedelta = GRACE,
) -> Plan:
    """The ticks in ``(after, now]`` to fire and to skip under ``catchup``."""
    due, _truncated = ticks_between(cron, timezone, after, now, limit)
    if catchup == "all":
        return Plan(fire=due, skip=[])
    if catchup == "last":
        return Plan(fire=due[-1:], skip=due[:-1])
    on_time = [t for t in due if now - t < grace]
    return Plan(fire=on_time, skip=[t for t in due if now - t >= grace])


def tick_key(schedule_id: object, tick: datetime) -> str:
    """The idempotency key of a tick's run: one run per (schedule, tick), whoever starts it."""
    return f"schedule:{schedule_id}:{tick.strftime('%Y-%m-%dT%H:%M:%SZ')}"
