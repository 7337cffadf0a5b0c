"""Every projection, and the applications each follows."""

from __future__ import annotations

from typing import Any

from projections.outbox import OutboxProjection
from projections.readmodel import ReadModelProjection

PROJECTIONS: dict[str, tuple[type[Any], tuple[str, ...]]] = {
    "readmodel": (ReadModelProjection, ("platform", "runs")),
    "outbox": (OutboxProjection, ("platform",)),
}
