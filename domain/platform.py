"""The ``Platform`` application: every command and query of the platform's aggregates.

Composed from per-area mixins so each module stays small; ``Platform`` is the only
application class meant to be instantiated. Events go to the ``platform_events`` table.
"""

from __future__ import annotations

from typing import Any, ClassVar

from domain.identity.application import TenantWithAdmin
from domain.identity.authentication import AccessCommands, IssuedApiKey, IssuedSession, LoginResult
from domain.identity.tenants import Tenant
from domain.identity.users import User
from domain.kernel.application import Clock, DefinitionValidator, no_definition_rules
from domain.marketplace.application import MarketplaceCommands
from domain.messaging.application import MessagingCommands
from domain.topics import register_moved_topics
from domain.workflows.application import WorkflowCommands

__all__ = [
    "Clock",
    "DefinitionValidator",
    "IssuedApiKey",
    "IssuedSession",
    "LoginResult",
    "Platform",
    "TenantWithAdmin",
    "no_definition_rules",
]


class Platform(AccessCommands, MessagingCommands, WorkflowCommands, MarketplaceCommands):
    """Tenants, users, roles, credentials, workflows, marketplace, notifications, history.

    ``Platform(env=None, *, definition_validator=None, password_hasher=None, clock=None)``.
    Persistence, encryption and compression come from ``env``/``os.environ`` as usual for
    eventsourcing (``PERSISTENCE_MODULE``, ``CIPHER_TOPIC``, ``COMPRESSOR_TOPIC``, ...).
    """

    name = "platform"
    # Tenant and User accumulate events for their whole life (config edits, logins)
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Tenant: 50, User: 50}


register_moved_topics()
