"""Command inputs of messaging: sending a notification and recording a conversation turn.

One frozen model per multi-field command, so fields can be added later. Fields are typed
loosely (``Any`` where callers pass raw JSON) because the commands validate everything
themselves and report problems as ``ValidationError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class SendNotification:
    tenant_id: UUID
    recipient_user_id: UUID
    type: Any
    title: Any
    message: Any
    channel: Any
    priority: Any = "medium"
    idempotency_key: str | None = None
    """A retried request (e.g. a re-run workflow step) with the same key queues nothing new."""


@dataclass(frozen=True)
class RecordConversation:
    tenant_id: UUID
    user_id: UUID
    session_id: Any
    input_text: Any
    output_text: Any
    context_data: Any = field(default=None)
