"""The ``Platform`` application: every command and query of the platform's aggregates.

Composed from per-area mixins so each module stays small; ``Platform`` is the only
application class meant to be instantiated. Events go to the ``platform_events`` table.
"""

from __future__ import annotations

from typing import Any, ClassVar

from domain.app_access import AccessCommands, IssuedApiKey, IssuedSession, LoginResult
from domain.app_base import Clock, DefinitionValidator, no_definition_rules
from domain.app_identity import TenantWithAdmin
from domain.app_marketplace import MarketplaceCommands
from domain.app_messaging import MessagingCommands
from domain.app_workflows import WorkflowCommands
from domain.tenants import Tenant
from domain.users import User

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
