"""Cron expressions in a time zone: validation and fire times (UTC), on the ``cronsim`` library.

Five fields (minute hour day month weekday) or six with a leading seconds field. Fire times
are computed in the schedule's IANA time zone and returned in UTC. Daylight-saving changes
follow cronsim (as cron daemons do): a time skipped by a spring-forward change fires at the
first instant after the gap; a time repeated by a fall-back change fires once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from domain.kernel.errors import Problem, ValidationError

MAX_CRON_LENGTH = 200
MAX_TIMEZONE_LENGTH = 64


def zone(name: object, pointer: str = "/timezone") -> ZoneInfo:
    """The IANA time zone ``name``; ValidationError if it is not one."""
    if not isinstance(name, str) or not name or len(name) > MAX_TIMEZONE_LENGTH:
        raise ValidationError([Problem(pointer, "must be an IANA time zone name")])
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError([Problem(pointer, f"{name!r} is not a known time zone")]) from None


def expression(cron: object, pointer: str = "/cron") -> str:
    """A valid 5- or 6-field cron expression (normalised spacing); else ValidationError."""
    if not isinstance(cron, str) or not cron.strip() or len(cron) > MAX_CRON_LENGTH:
        raise ValidationError([Problem(pointer, "must be a cron expression of 5 or 6 fields")])
    normal = " ".join(cron.split())
    if len(normal.split(" ")) not in (5, 6):
        raise ValidationError([Problem(pointer, "must have 5 fields, or 6 with seconds first")])
    try:
        CronSim(normal, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as e:
        raise ValidationError([Problem(pointer, f"is not a valid cron expression: {e}")]) from None
    return normal


def _iterate(cron: str, tz: str, start: datetime, *, reverse: bool) -> Iterator[datetime]:
    local = start.astimezone(ZoneInfo(tz))
    for fire in CronSim(cron, local, reverse=reverse):
        yield fire.astimezone(UTC)


def next_fire_times(cron: str, tz: str, after: datetime, count: int = 5) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after``, in UTC."""
    out: list[datetime] = []
    try:
        for fire in _iterate(cron, tz, after, reverse=False):
            out.append(fire)
            if len(out) >= count:
                break
    except StopIteration:  # an expression with no further date (e.g. only past years)
        pass
    return out


def ticks_between(
    cron: str, tz: str, after: datetime, until: datetime, limit: int
) -> tuple[list[datetime], bool]:
    """Fire times in ``(after, until]``, oldest first: at most the ``limit`` newest, and
    whether older ones were left out. Walks backwards from ``until``, so the cost is bounded
    by ``limit`` however long ago ``after`` is."""
    newest_first: list[datetime] = []
    truncated = False
    # cronsim's reverse walk starts strictly before a whole second: start one second later
    for fire in _iterate(cron, tz, until + timedelta(seconds=1), reverse=True):
        if fire > until:
            continue
        if fire <= after:
            break
        if len(newest_first) >= limit:
            truncated = True
            break
        newest_first.append(fire)
    return list(reversed(newest_first)), truncated
