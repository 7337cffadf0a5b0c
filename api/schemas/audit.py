"""Response models of the audit log (events, verification, checkpoints, proofs) and history."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel


class AuditEventPublic(BaseModel):
    id: UUID
    source: str
    seq: int
    timestamp: datetime
    action: str
    resource_type: str
    resource_id: str | None = None
    user_id: UUID | None = None
    actor_kind: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    aggregate_id: UUID
    aggregate_version: int
    details: dict[str, Any] | None = None
    prev_hash: str
    hash: str


class BrokenLinkPublic(BaseModel):
    id: str
    seq: int
    source: str
    reason: str


class VerifyPublic(BaseModel):
    ok: bool
    events: int
    head: dict[str, dict[str, Any]]
    broken: BrokenLinkPublic | None = None


class HistoryEventPublic(BaseModel):
    version: int
    type: str
    time: datetime
    data: dict[str, Any]
    meta: dict[str, Any]


class HistoryPublic(BaseModel):
    resource_type: str
    id: UUID
    events: list[HistoryEventPublic]


class StatePublic(BaseModel):
    resource_type: str
    id: UUID
    version: int
    time: datetime
    state: dict[str, Any]


class CheckpointPublic(BaseModel):
    tree_size: int
    root_hash: str  # hex
    key_id: str
    note: str  # the C2SP signed note (checkpoint text, blank line, signature lines)
    created_at: datetime


class CheckpointsPublic(BaseModel):
    checkpoints: list[CheckpointPublic]


class PublicKeyPublic(BaseModel):
    key_id: str
    algorithm: str
    public_key_pem: str


class PublicKeysPublic(BaseModel):
    keys: list[PublicKeyPublic]


class InclusionProofPublic(BaseModel):
    event_id: UUID
    leaf_index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    audit_path: list[str]
    checkpoint: CheckpointPublic | None = None


class ConsistencyProofPublic(BaseModel):
    from_size: int
    to_size: int
    from_root: str
    to_root: str
    proof: list[str]
