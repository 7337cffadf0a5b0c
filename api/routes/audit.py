"""Auditors: the tenant's audit log (filter, verify, export, checkpoints, proofs) and history."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Annotated, Any, cast
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api.audit_hooks import audit_sensitive_read
from api.auth import Principal, require, tenant_of
from api.bodies import invalid
from api.boundary import ascii_int
from api.composition import Container
from api.deps import ContainerDep
from api.pagination import Page, PageDep
from api.readdb import tenant_tx
from api.schemas import Rfc3339
from api.schemas.audit import (
    AuditEventPublic,
    BrokenLinkPublic,
    CheckpointPublic,
    CheckpointsPublic,
    ConsistencyProofPublic,
    HistoryEventPublic,
    HistoryPublic,
    InclusionProofPublic,
    PublicKeyPublic,
    PublicKeysPublic,
    StatePublic,
    VerifyPublic,
)
from api.settings import Settings
from domain.audit import merkle
from domain.audit.checkpoint import ALGORITHM, Signer, public_pem
from domain.kernel.errors import NotFoundError
from projections.audit import tree
from projections.audit.history import HistoryNotFoundError, aggregate_events, state_as_of
from projections.audit.tree import StoredCheckpoint, make_checkpoint
from projections.queries import audit

router = APIRouter(prefix="/v1/audit", tags=["audit"])
history_router = APIRouter(prefix="/v1/history", tags=["audit"])

Auditor = Annotated[Principal, Depends(require("audit:read"))]


@router.get("/events", response_model=Page[AuditEventPublic])
def list_audit_events(
    principal: Auditor,
    container: ContainerDep,
    page: PageDep,
    since: Annotated[Rfc3339 | None, Query(description="At or after (RFC 3339).")] = None,
    until: Annotated[Rfc3339 | None, Query(description="Before (RFC 3339).")] = None,
    user_id: UUID | None = None,
    action: Annotated[
        str | None, Query(max_length=100, description="e.g. Workflow.Created")
    ] = None,
    resource_type: Annotated[str | None, Query(max_length=100)] = None,
    resource_id: Annotated[str | None, Query(max_length=255)] = None,
) -> Page[AuditEventPublic]:
    """The tenant's audit events, oldest first, filtered by time, user, action, resource."""
    with tenant_tx(container.read_pool, tenant_of(principal)) as conn:
        rows, next_cursor = audit.list_events(
            conn, page, since=since, until=until, user_id=user_id, action=action,
            resource_type=resource_type, resource_id=resource_id,
        )  # fmt: skip
    # who read the audit log is itself audited (resource_id "*": the log, not one resource,
    # so a search by resource id finds the resource's own rows only)
    audit_sensitive_read(
        container, principal, resource_type="audit_events", resource_id="*", fields=["details"]
    )
    return Page(items=[AuditEventPublic(**r) for r in rows], next_cursor=next_cursor)


@router.get("/verify", response_model=VerifyPublic)
def verify_audit_chain(principal: Auditor, container: ContainerDep) -> VerifyPublic:
    """Recompute the tenant's hash chains: ``{ok, events, head}`` or the first broken link."""
    from projections.audit.chain import StoredEvents, verify_chain

    tenant_id = tenant_of(principal)
    events = StoredEvents(container.event_apps())  # each row against its stored event
    with tenant_tx(container.read_pool, tenant_id) as conn:
        result = verify_chain(conn, tenant_id, events=events)
    b = result.broken
    broken = (
        None
        if b is None
        else BrokenLinkPublic(id=b.id, seq=b.seq, source=b.source, reason=b.reason)
    )
    return VerifyPublic(ok=result.ok, events=result.events, head=result.head, broken=broken)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "NDJSON"}},
)
def export_audit_events(principal: Auditor, container: ContainerDep) -> StreamingResponse:
    """The tenant's audit rows as NDJSON CloudEvents, ending with a fresh signed checkpoint."""
    from projections.audit.export import iter_verifiable_export

    tenant_id = tenant_of(principal)
    audit_sensitive_read(
        container, principal, resource_type="audit_log", resource_id=tenant_id, fields=("export",)
    )
    cp = _checkpoint_now(container, tenant_id)  # covers every row exported, and no other

    def lines() -> Iterator[str]:
        # the connection stays checked out only while the client reads the stream
        with tenant_tx(container.read_pool, tenant_id) as conn:
            yield from iter_verifiable_export(conn, tenant_id, cp)

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="audit-{tenant_id}.ndjson"'},
    )


def _as_of(value: str) -> tuple[int | None, datetime | None]:
    """``?as_of=`` is a version (a positive integer) or an RFC 3339 time."""
    if (version := ascii_int(value)) is not None:
        if version < 1:
            raise invalid([("#query/as_of", "a version is 1 or more")])
        return version, None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid([("#query/as_of", "must be a version number or an RFC 3339 time")]) from None
    if at.tzinfo is None:
        raise invalid([("#query/as_of", "the time needs a UTC offset (e.g. Z)")])
    return None, at


@history_router.get("/{resource_type}/{resource_id}", response_model=HistoryPublic | StatePublic)
def get_history(
    resource_type: str,
    resource_id: UUID,
    principal: Auditor,
    container: ContainerDep,
    as_of: Annotated[
        str | None, Query(description="A version number or an RFC 3339 time: the state then.")
    ] = None,
) -> HistoryPublic | StatePublic:
    """An aggregate's events in order; with ``as_of``, its state at that version or time."""
    tenant_id, apps = tenant_of(principal), container.event_apps()
    version, at = _as_of(as_of) if as_of is not None else (None, None)
    try:
        with tenant_tx(container.read_pool, tenant_id) as conn:
            if as_of is None:
                events = aggregate_events(
                    apps, conn, tenant_id, resource_id, resource_type=resource_type
                )
            else:
                state = state_as_of(apps, conn, tenant_id, resource_id, version=version, at=at,
                                    resource_type=resource_type)  # fmt: skip
    except HistoryNotFoundError as e:
        raise NotFoundError(resource_type, resource_id) from e
    part = "events" if as_of is None else "state"
    _audit_history_read(container, principal, resource_type, resource_id, part)
    if as_of is None:
        return HistoryPublic(resource_type=resource_type, id=resource_id,
                             events=[HistoryEventPublic(**vars(e)) for e in events])  # fmt: skip
    return StatePublic(resource_type=resource_type, id=state.id, version=state.version,
                       time=state.time, state=state.state)  # fmt: skip


def _audit_history_read(
    container: Container, principal: Principal, resource_type: str, resource_id: UUID, part: str
) -> None:
    """A history read (any aggregate, e.g. another user's conversation) is a sensitive read."""
    audit_sensitive_read(
        container, principal, resource_type=resource_type[:100], resource_id=resource_id,
        fields=[f"history.{part}"],
    )  # fmt: skip


_signers: dict[tuple[str | None, str], Signer] = {}


def audit_signer(settings: Settings) -> Signer:
    """This process's checkpoint signer (settings, key file, or the data folder's key)."""
    key_id, pem = settings.resolved_audit_signing_key()
    if (key_id, pem) not in _signers:
        _signers[(key_id, pem)] = Signer.from_pem(key_id, pem)
    return _signers[(key_id, pem)]


def system_connection(container: Container) -> Callable[[], AbstractContextManager[Any]]:
    """An autocommit system-role connection from the process's event-store pool (the API's
    role may not write checkpoints; no connection is added to the process's budget)."""
    recorder: Any = container.platform.recorder
    return cast("Callable[[], AbstractContextManager[Any]]", recorder.datastore.get_connection)


def _checkpoint_now(container: Container, tenant_id: UUID) -> StoredCheckpoint:
    settings = container.settings
    with system_connection(container)() as conn:
        return make_checkpoint(conn, tenant_id, audit_signer(settings), settings.audit_log_origin)


def _public(cp: StoredCheckpoint) -> CheckpointPublic:
    return CheckpointPublic(**cp.as_dict())


@router.get("/public-keys", response_model=PublicKeysPublic)
def list_public_keys(principal: Auditor, container: ContainerDep) -> PublicKeysPublic:
    """Every public key that signs (or signed) checkpoints, old ones kept after a rotation."""
    signer = audit_signer(container.settings)
    with tenant_tx(container.read_pool, tenant_of(principal)) as conn:
        keys = tree.public_keys(conn)
    if signer.key_id not in {k["key_id"] for k in keys}:
        keys.append({"key_id": signer.key_id, "algorithm": ALGORITHM,
                     "public_key_pem": public_pem(signer.public_key)})  # fmt: skip
    return PublicKeysPublic(keys=[PublicKeyPublic(**k) for k in keys])


SizeQuery = Annotated[int | None, Query(ge=0, le=2**62, description="A tree size.")]


@router.get("/checkpoints", response_model=CheckpointsPublic)
def list_checkpoints(
    principal: Auditor, container: ContainerDep, from_size: SizeQuery = None,
    to_size: SizeQuery = None,
) -> CheckpointsPublic:  # fmt: skip
    """The latest signed checkpoint, or those whose tree size is in ``[from_size, to_size]``."""
    ranged = from_size is not None or to_size is not None
    with tenant_tx(container.read_pool, tenant_of(principal)) as conn:
        found = tree.list_checkpoints(conn, tenant_of(principal), from_size=from_size,
                                      to_size=to_size, limit=100 if ranged else 1)  # fmt: skip
    return CheckpointsPublic(checkpoints=[_public(c) for c in found])


@router.post("/checkpoints", response_model=CheckpointPublic)
def create_checkpoint(principal: Auditor, container: ContainerDep) -> CheckpointPublic:
    """Sign the tenant's tree now (every row projected so far) and return the checkpoint."""
    return _public(_checkpoint_now(container, tenant_of(principal)))


def _size_at_most(conn: Any, tenant_id: UUID, size: int | None, pointer: str) -> int:
    latest = tree.list_checkpoints(conn, tenant_id, limit=1)
    top = latest[0].tree_size if latest else 0
    if size is None:
        return top
    if size > top:
        raise invalid([(pointer, f"the tree has {top} rows signed; make a checkpoint first")])
    return size


@router.get("/proofs/inclusion", response_model=InclusionProofPublic)
def inclusion_proof(
    principal: Auditor, container: ContainerDep, event_id: UUID, tree_size: SizeQuery = None
) -> InclusionProofPublic:
    """The audit path (RFC 9162) of an audit row in the tenant's tree of ``tree_size`` rows."""
    tenant_id = tenant_of(principal)
    with tenant_tx(container.read_pool, tenant_id) as conn:
        index = tree.leaf_index_of(conn, tenant_id, event_id)
        if index is None:
            raise NotFoundError("audit_event", event_id)
        size = _size_at_most(conn, tenant_id, tree_size, "#query/tree_size")
        if index >= size:
            raise invalid([("#query/tree_size", f"the row is leaf {index}: the size must be"
                            f" more than {index}")])  # fmt: skip
        hashes = tree.leaf_hashes(conn, tenant_id, size)
        signed = tree.list_checkpoints(conn, tenant_id, from_size=size, to_size=size, limit=1)
    return InclusionProofPublic(
        event_id=event_id, leaf_index=index, tree_size=size, leaf_hash=hashes[index].hex(),
        root_hash=merkle.root(hashes).hex(),
        audit_path=[h.hex() for h in merkle.inclusion_proof(index, hashes)],
        checkpoint=_public(signed[0]) if signed else None,
    )  # fmt: skip


@router.get("/proofs/consistency", response_model=ConsistencyProofPublic)
def consistency_proof(
    principal: Auditor,
    container: ContainerDep,
    from_size: Annotated[int, Query(ge=1, le=2**62)],
    to_size: Annotated[int, Query(ge=1, le=2**62)],
) -> ConsistencyProofPublic:
    """The proof (RFC 9162) that the tree of ``from_size`` rows is a prefix of ``to_size``'s."""
    if from_size > to_size:
        raise invalid([("#query/from_size", "must not be more than to_size")])
    tenant_id = tenant_of(principal)
    with tenant_tx(container.read_pool, tenant_id) as conn:
        size = _size_at_most(conn, tenant_id, to_size, "#query/to_size")
        hashes = tree.leaf_hashes(conn, tenant_id, size)
    return ConsistencyProofPublic(
        from_size=from_size, to_size=to_size, from_root=merkle.root(hashes[:from_size]).hex(),
        to_root=merkle.root(hashes).hex(),
        proof=[h.hex() for h in merkle.consistency_proof(from_size, hashes)],
    )  # fmt: skip
