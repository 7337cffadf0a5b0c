"""Every projection, and the applications each follows (by application name)."""

from __future__ import annotations

from typing import Any

from projections.audit.projection import AuditProjection
from projections.outbox import OutboxProjection
from projections.readmodel.projection import ReadModelProjection

PROJECTIONS: dict[str, tuple[type[Any], tuple[str, ...]]] = {
    "readmodel": (ReadModelProjection, ("platform", "runs")),
    "audit": (AuditProjection, ("platform", "runs")),
    "outbox": (OutboxProjection, ("platform",)),
}


def tracking_table(name: str) -> str:
    """The library's tracking table of a projection (``<name>_tracking``)."""
    return f"{name.lower()}_tracking"
