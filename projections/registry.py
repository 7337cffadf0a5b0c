"""Every projection, and the applications each follows (by application name)."""

from __future__ import annotations

from typing import Any

from projections.approval_notices import ApprovalNotices
from projections.audit.projection import AuditProjection
from projections.outbox import OutboxProjection
from projections.readmodel.projection import ReadModelProjection

PROJECTIONS: dict[str, tuple[type[Any], tuple[str, ...]]] = {
    "readmodel": (ReadModelProjection, ("platform", "runs")),
    "audit": (AuditProjection, ("platform", "runs")),
    "outbox": (OutboxProjection, ("platform",)),
}

PROCESSES: dict[str, tuple[type[Any], tuple[str, ...]]] = {
    "approval_notices": (ApprovalNotices, ("runs",)),
}
"""Followers that act rather than write a view, run like projections (their own tracking
table); each is built with the applications it names in ``uses`` (``api/background.py``)."""


def tracking_table(name: str) -> str:
    """The library's tracking table of a projection (``<name>_tracking``)."""
    return f"{name.lower()}_tracking"
