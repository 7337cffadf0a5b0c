"""Cron fire times in a time zone (daylight-saving changes included) and the catch-up plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.kernel.errors import ValidationError
from domain.triggers import cron
from domain.triggers.firing import plan, tick_key


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_spring_forward_in_paris_fires_a_skipped_time_once_right_after_the_gap() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day
    fires = cron.next_fire_times("30 2 * * *", "Europe/Paris", utc(2026, 3, 28, 12), 3)
    assert fires == [utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0, 30)]


def test_fall_back_in_paris_fires_a_repeated_time_once() -> None:
    # 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice, fires once
    fires = cron.next_fire_times("30 2 * * *", "Europe/Paris", utc(2026, 10, 24, 12), 3)
    assert fires == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]


def test_nine_on_weekdays_follows_paris_across_the_change() -> None:
    fires = cron.next_fire_times("0 9 * * 1-5", "Europe/Paris", utc(2026, 3, 26, 12), 3)
    # Fri 27 Mar at 09:00 CET = 08:00 UTC; Mon 30 and Tue 31 Mar at 09:00 CEST = 07:00 UTC
    assert fires == [utc(2026, 3, 27, 8), utc(2026, 3, 30, 7), utc(2026, 3, 31, 7)]


def test_six_fields_have_seconds_first() -> None:
    fires = cron.next_fire_times("*/5 * * * * *", "UTC", utc(2026, 1, 1, 0, 0, 1), 3)
    assert fires == [utc(2026, 1, 1, 0, 0, 5), utc(2026, 1, 1, 0, 0, 10), utc(2026, 1, 1, 0, 0, 15)]


@pytest.mark.parametrize(
    "bad", ["", "bad", "* * * *", "* * * * * * *", "61 * * * *", "0 0 30 2 *", 5, None]
)
def test_bad_cron_expressions_are_refused_at_cron(bad: object) -> None:
    with pytest.raises(ValidationError) as e:
        cron.expression(bad)
    assert e.value.problems[0].pointer == "/cron"


@pytest.mark.parametrize("bad", ["", "Mars/Olympus", "../etc/passwd", 3, "x" * 100])
def test_bad_time_zones_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        cron.zone(bad)


def test_ticks_between_is_bounded_and_keeps_the_newest() -> None:
    ticks, truncated = cron.ticks_between(
        "* * * * * *", "UTC", utc(2026, 1, 1), utc(2026, 1, 1, 1), limit=3
    )
    assert truncated
    assert ticks == [utc(2026, 1, 1, 0, 59, 58), utc(2026, 1, 1, 0, 59, 59), utc(2026, 1, 1, 1)]


NOW = utc(2026, 1, 1, 12, 10, 3)  # three seconds after the 12:10 tick
AFTER = utc(2026, 1, 1, 12, 0, 30)  # ticks due since: 12:01 ... 12:10


def test_catchup_none_fires_only_the_tick_on_time() -> None:
    p = plan("* * * * *", "UTC", "none", after=AFTER, now=NOW)
    assert p.fire == [utc(2026, 1, 1, 12, 10)]
    assert len(p.skip) == 9
    assert p.last == utc(2026, 1, 1, 12, 10)


def test_catchup_none_fires_nothing_when_the_latest_tick_is_late() -> None:
    p = plan("* * * * *", "UTC", "none", after=AFTER, now=NOW + timedelta(seconds=30))
    assert p.fire == []
    assert p.last == utc(2026, 1, 1, 12, 10)


def test_catchup_last_fires_the_newest_missed_tick() -> None:
    p = plan("* * * * *", "UTC", "last", after=AFTER, now=NOW + timedelta(seconds=30))
    assert p.fire == [utc(2026, 1, 1, 12, 10)]
    assert len(p.skip) == 9


def test_catchup_all_fires_every_missed_tick_within_the_bound() -> None:
    p = plan("* * * * *", "UTC", "all", after=AFTER, now=NOW)
    assert p.fire == [utc(2026, 1, 1, 12, m) for m in range(1, 11)]
    bounded = plan("* * * * *", "UTC", "all", after=AFTER, now=NOW, limit=4)
    assert bounded.fire == [utc(2026, 1, 1, 12, m) for m in range(7, 11)]


def test_a_ticks_key_names_the_schedule_and_the_second() -> None:
    assert tick_key("s1", utc(2026, 1, 1, 9, 0, 5)) == "schedule:s1:2026-01-01T09:00:05Z"
