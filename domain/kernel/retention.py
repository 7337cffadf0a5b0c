"""The tenant's retention setting: after how many days a finished run's data is shredded."""

from __future__ import annotations

from typing import Any, Final

from domain.kernel.errors import ValidationError

RUN_DATA_DAYS: Final = "retention.run_data_days"
"""The tenant config key (``PUT /v1/config/retention.run_data_days``); unset keeps run data."""
MAX_DAYS: Final = 36_500


def run_data_days(value: Any, pointer: str = "/value") -> int:
    """A whole number of days from 1 to 36 500 (a bool, a fraction or text is refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise ValidationError.one(pointer, f"must be a whole number of days from 1 to {MAX_DAYS}")
    return value


CHECKS = {RUN_DATA_DAYS: run_data_days}
"""Config keys whose values the platform checks, by key."""
