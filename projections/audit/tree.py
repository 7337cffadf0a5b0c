"""Each tenant's Merkle tree over its audit rows: grow it, sign checkpoints, give proofs.

``make_checkpoint`` appends the rows not yet in the tree (each chain in ``seq`` order,
``platform`` before ``runs``, after every earlier leaf), signs the new tree head and stores
both in one transaction under a per-tenant advisory lock, so several processes never sign
the same tenant at once; with nothing new it returns the latest checkpoint. Leaves are the
database's ``platinum_audit_leaf(row)``; proofs are computed by ``domain.audit.merkle`` from
the stored leaf hashes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from domain.audit import merkle
from domain.audit.checkpoint import ALGORITHM, Checkpoint, Signer, now_rfc3339, public_pem

LOCK_SPACE = zlib.crc32(b"platinum:audit-checkpoint")


class KeyConflictError(RuntimeError):
    """The configured key id already names another public key."""


@dataclass(frozen=True)
class StoredCheckpoint:
    tenant_id: UUID
    tree_size: int
    root_hash: str
    key_id: str
    note: str
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "root_hash": self.root_hash, "key_id": self.key_id,
                "note": self.note, "created_at": self.created_at}  # fmt: skip


def _q(conn: psycopg.Connection[Any], query: str, params: Any = ()) -> psycopg.Cursor[Any]:
    """Run ``query`` with tuple rows, whatever the connection's row factory."""
    return conn.cursor(row_factory=tuple_row).execute(query, params)


def origin(prefix: str, tenant_id: UUID | str) -> str:
    """The log's name in its checkpoints: one log per tenant."""
    return f"{prefix.rstrip('/')}/{tenant_id}"


def register_key(conn: psycopg.Connection[Any], signer: Signer) -> None:
    """Record the signer's public key (kept after rotation); a key id names one key only."""
    pem = public_pem(signer.public_key)
    _q(
        conn,
        "INSERT INTO audit_signing_keys (key_id, algorithm, public_key_pem) VALUES (%s, %s, %s)"
        " ON CONFLICT (key_id) DO NOTHING",
        (signer.key_id, ALGORITHM, pem),
    )
    row = _q(
        conn, "SELECT public_key_pem FROM audit_signing_keys WHERE key_id = %s", (signer.key_id,)
    ).fetchone()
    if row is None or row[0] != pem:
        raise KeyConflictError(f"audit key id {signer.key_id!r} already names another key")


def _latest(conn: psycopg.Connection[Any], tenant_id: UUID | str) -> StoredCheckpoint | None:
    rows = list_checkpoints(conn, tenant_id, limit=1)
    return rows[0] if rows else None


def make_checkpoint(
    conn: psycopg.Connection[Any], tenant_id: UUID | str, signer: Signer, log_prefix: str
) -> StoredCheckpoint:
    """Grow the tenant's tree by its new rows and sign it (system role, one transaction)."""
    with conn.transaction():
        _q(conn, "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                     (LOCK_SPACE, str(tenant_id)))  # fmt: skip
        return _grow_and_sign(conn, tenant_id, signer, log_prefix)


def try_make_checkpoint(
    conn: psycopg.Connection[Any], tenant_id: UUID | str, signer: Signer, log_prefix: str
) -> StoredCheckpoint | None:
    """As ``make_checkpoint``, but None when another process holds the tenant's lock."""
    with conn.transaction():
        row = _q(conn, "SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))",
                           (LOCK_SPACE, str(tenant_id))).fetchone()  # fmt: skip
        if not row or not row[0]:
            return None
        return _grow_and_sign(conn, tenant_id, signer, log_prefix)


def _grow_and_sign(
    conn: psycopg.Connection[Any], tenant_id: UUID | str, signer: Signer, log_prefix: str
) -> StoredCheckpoint:
    latest = _latest(conn, tenant_id)
    size = 0 if latest is None else latest.tree_size
    heads: dict[str, int] = {}
    compact: list[bytes] = []
    if latest is not None:
        row = _q(
            conn,
            "SELECT heads, compact_range FROM audit_checkpoints"
            " WHERE tenant_id = %s AND tree_size = %s",
            (str(tenant_id), size),
        ).fetchone()
        assert row is not None
        heads, compact = dict(row[0]), [bytes(h) for h in row[1]]
    cur = _q(
        conn,
        "INSERT INTO audit_tree_leaves (tenant_id, leaf_index, source, seq, leaf_hash)"
        " SELECT a.tenant_id, %s + row_number() OVER (ORDER BY a.source, a.seq) - 1,"
        "        a.source, a.seq, platinum_audit_leaf(a)"
        "   FROM audit_events a"
        "  WHERE a.tenant_id = %s"
        "    AND a.seq > coalesce((%s::jsonb ->> a.source)::bigint, 0)"
        " RETURNING leaf_index, source, seq, leaf_hash",
        (size, str(tenant_id), Jsonb(heads)),
    )
    added = sorted(cur.fetchall())  # RETURNING promises no order: the tree's order
    if latest is not None and not added:
        return latest  # nothing new: the latest checkpoint already covers every row
    for _, source, seq, _ in added:
        heads[source] = max(seq, heads.get(source, 0))
    # the tree grows from its compact range: no earlier leaf is read again
    compact = merkle.extend_range(compact, size, [bytes(h) for *_, h in added])
    size += len(added)
    root = merkle.range_root(compact)
    register_key(conn, signer)
    cp = Checkpoint(origin(log_prefix, tenant_id), size, root, now_rfc3339())
    note = signer.sign(cp)
    row = _q(
        conn,
        "INSERT INTO audit_checkpoints (tenant_id, tree_size, root_hash, heads, compact_range,"
        " key_id, note) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (tenant_id, tree_size) DO NOTHING RETURNING created_at",
        (str(tenant_id), size, root.hex(), Jsonb(heads), compact, signer.key_id, note),
    ).fetchone()
    if row is None:
        raise RuntimeError("a checkpoint of this size exists: the tenant lock was not held")
    return StoredCheckpoint(UUID(str(tenant_id)), size, root.hex(), signer.key_id, note, row[0])


def leaf_hashes(conn: psycopg.Connection[Any], tenant_id: UUID | str, size: int) -> list[bytes]:
    """The first ``size`` leaf hashes of the tenant's tree, in order."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            "SELECT leaf_hash FROM audit_tree_leaves WHERE tenant_id = %s AND leaf_index < %s"
            " ORDER BY leaf_index",
            (str(tenant_id), size),
        )
        return [bytes(h) for (h,) in cur]


def list_checkpoints(
    conn: psycopg.Connection[Any],
    tenant_id: UUID | str,
    *,
    from_size: int | None = None,
    to_size: int | None = None,
    limit: int = 100,
) -> list[StoredCheckpoint]:
    """The tenant's checkpoints, newest first, optionally between two tree sizes."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT tenant_id, tree_size, root_hash, key_id, note, created_at"
            "  FROM audit_checkpoints WHERE tenant_id = %s"
            "   AND (%s::bigint IS NULL OR tree_size >= %s)"
            "   AND (%s::bigint IS NULL OR tree_size <= %s)"
            " ORDER BY tree_size DESC LIMIT %s",
            (str(tenant_id), from_size, from_size, to_size, to_size, limit),
        )
        return [StoredCheckpoint(**r) for r in cur.fetchall()]


def leaf_index_of(
    conn: psycopg.Connection[Any], tenant_id: UUID | str, event_id: UUID
) -> int | None:
    """The tree position of audit row ``event_id`` (None: not in the tenant's tree yet)."""
    row = _q(
        conn,
        "SELECT l.leaf_index FROM audit_events a JOIN audit_tree_leaves l"
        "    ON l.tenant_id = a.tenant_id AND l.source = a.source AND l.seq = a.seq"
        " WHERE a.id = %s AND a.tenant_id = %s",
        (str(event_id), str(tenant_id)),
    ).fetchone()
    return None if row is None else int(row[0])


def public_keys(conn: psycopg.Connection[Any]) -> list[dict[str, str]]:
    """Every key that ever signed a checkpoint, oldest first."""
    rows = _q(
        conn, "SELECT key_id, algorithm, public_key_pem FROM audit_signing_keys ORDER BY first_used"
    ).fetchall()
    return [{"key_id": k, "algorithm": a, "public_key_pem": p} for k, a, p in rows]
