"""Request and response models of notifications and conversation turns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas import Strict, trimmed_text
from domain.kernel.validators import LONG_TEXT_MAX


class NotificationCreate(Strict):
    recipient_user_id: UUID
    channel: Literal["email", "sms", "push", "slack", "discord"]
    type: str = Field(max_length=50, json_schema_extra=trimmed_text(1, 50))
    title: str = Field(max_length=255, json_schema_extra=trimmed_text(1, 255))
    message: str = Field(json_schema_extra=trimmed_text(1, LONG_TEXT_MAX))
    priority: Literal["low", "medium", "high", "urgent"] = "medium"


class NotificationPublic(BaseModel):
    id: UUID
    recipient_user_id: UUID
    type: str
    title: str
    message: str
    channel: str
    priority: str
    status: str
    attempts: int
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    version: int
    created_at: datetime


class ConversationCreate(Strict):
    session_id: str = Field(max_length=255, json_schema_extra=trimmed_text(1, 255))
    input_text: str = Field(json_schema_extra=trimmed_text(1, LONG_TEXT_MAX))
    output_text: str = Field(json_schema_extra=trimmed_text(1, LONG_TEXT_MAX))
    context_data: dict[str, Any] | None = None


class ConversationPublic(BaseModel):
    id: UUID
    user_id: UUID
    session_id: str
    input_text: str
    output_text: str
    context_data: dict[str, Any] | None = None
    created_at: datetime
