"""The ``Platform`` application: composes every context's commands and queries into one.

Each bounded context contributes a mixin beside its aggregates (``identity``, ``workflows``,
``marketplace``, ``messaging``); ``Platform`` is the only application class meant to be
instantiated, and all of its aggregates' events go to the ``platform_events`` table (runs have
their own application, ``domain.runs.application.Runs``, and table, ``runs_events``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from domain.identity.access import AccessCommands
from domain.identity.authentication import AuthenticationCommands
from domain.identity.tenants import Tenant
from domain.identity.users import User
from domain.marketplace.application import MarketplaceCommands
from domain.messaging.application import MessagingCommands
from domain.topics import register_moved_topics
from domain.triggers.application import TriggerCommands
from domain.workflows.application import WorkflowCommands


class Platform(
    AccessCommands,
    AuthenticationCommands,
    MessagingCommands,
    WorkflowCommands,
    MarketplaceCommands,
    TriggerCommands,
):
    """Tenants, users, roles, credentials, workflows, marketplace, notifications, conversations,
    schedules and hooks.

    ``Platform(env=None, *, definition_validator=None, password_hasher=None, clock=None)``.
    Persistence, encryption and compression come from ``env``/``os.environ`` as usual for
    eventsourcing (``PERSISTENCE_MODULE``, ``CIPHER_TOPIC``, ``COMPRESSOR_TOPIC``, ...).
    """

    name = "platform"
    # Tenant and User accumulate events for their whole life (config edits, logins)
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Tenant: 50, User: 50}


register_moved_topics()
