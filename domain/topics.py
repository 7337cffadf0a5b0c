"""Old event topics: modules that moved keep resolving, so events stored before a move still load.

An event's topic is ``module:qualname`` of its class, stored with every event and snapshot
(and inside every ``Created`` event as ``originator_topic``). Moving a module changes the
topic of new events; the old names are registered here so that older events resolve to
the same classes (eventsourcing's ``register_topic``, which also covers nested classes).
"""

from __future__ import annotations

import importlib

from eventsourcing.utils import register_topic

MOVED_MODULES: dict[str, str] = {
    # the layout before the bounded-context packages (2026-11)
    "domain.base": "domain.kernel.base",
    "domain.compression": "domain.kernel.compression",
    "domain.index": "domain.kernel.index",
    "domain.tenants": "domain.identity.tenants",
    "domain.users": "domain.identity.users",
    "domain.roles": "domain.identity.roles",
    "domain.credentials": "domain.identity.credentials",
    "domain.workflows": "domain.workflows.workflow",
    "domain.skills": "domain.marketplace.skills",
    "domain.notifications": "domain.messaging.notifications",
    "domain.conversations": "domain.messaging.conversations",
    "domain.runs": "domain.runs.run",
    "domain.access": "domain.audit.sensitive_reads",
}


def register_moved_topics() -> None:
    """Resolve every old module name to its new module (idempotent)."""
    for old, new in MOVED_MODULES.items():
        module = importlib.import_module(new)
        register_topic(old, module)
        # a new name that starts with an old one ("domain.runs.run") must resolve directly,
        # not through the old name's registration
        register_topic(new, module)
