"""Conversation: one recorded AI turn of a user, kept for context and learning."""

from __future__ import annotations

from copy import deepcopy
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.kernel.base import PlatinumAggregate


class Conversation(PlatinumAggregate):
    """An immutable conversation turn."""

    @event("Recorded")
    def __init__(
        self,
        tenant_id: UUID,
        user_id: UUID,
        session_id: str,
        input_text: str,
        output_text: str,
        context_data: dict[str, Any],
    ) -> None:
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.session_id = session_id
        self.input_text = input_text
        self.output_text = output_text
        self.context_data = deepcopy(context_data)
