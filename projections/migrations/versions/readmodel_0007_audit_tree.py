"""The verifiable audit log: each tenant's Merkle tree (RFC 9162) and signed checkpoints.

* ``audit_tree_leaves``: the tenant's audit rows in tree order (``leaf_index`` from 0), each
  with its leaf hash ``platinum_audit_leaf(row) = SHA-256(0x00 || canonical JSON)`` — the same
  canonical text the chain hash is over (``platinum_audit_canonical``), so the leaf is the one
  definition ``domain.audit.canonical.row_leaf`` computes offline from an export line. Rows
  join the tree when a checkpoint is made: the rows not yet in it, each chain in ``seq``
  order (``platform`` before ``runs``), after every earlier leaf.
* ``audit_checkpoints``: one signed note per (tenant, tree size) with the chain heads it
  covers and the tree's compact range (the roots of its perfect subtrees), from which the next
  checkpoint grows without reading old leaves.
* ``audit_signing_keys``: every public key that signed, kept after a rotation.

Append-only like the log (the same trigger function). RLS on the tenant tables; the API's
role reads, the system role (checkpointer) reads and inserts.

Revision ID: readmodel_0007
Revises: readmodel_0006
"""

from alembic import op

revision = "readmodel_0007"
down_revision = "readmodel_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION platinum_audit_leaf(a audit_events) RETURNS bytea
        LANGUAGE sql STABLE AS $$
          SELECT sha256('\\x00'::bytea || convert_to(platinum_audit_canonical(a), 'UTF8'))
        $$;

        CREATE TABLE audit_tree_leaves (
            tenant_id uuid NOT NULL,
            leaf_index bigint NOT NULL CHECK (leaf_index >= 0),
            source varchar(32) NOT NULL,
            seq bigint NOT NULL,
            leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32),
            PRIMARY KEY (tenant_id, leaf_index),
            UNIQUE (tenant_id, source, seq)
        );
        CREATE TABLE audit_checkpoints (
            tenant_id uuid NOT NULL,
            tree_size bigint NOT NULL CHECK (tree_size >= 0),
            root_hash text NOT NULL CHECK (root_hash ~ '^[0-9a-f]{64}$'),
            heads jsonb NOT NULL,
            compact_range bytea[] NOT NULL,
            key_id text NOT NULL,
            note text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, tree_size)
        );
        CREATE TABLE audit_signing_keys (
            key_id text PRIMARY KEY,
            algorithm text NOT NULL,
            public_key_pem text NOT NULL,
            first_used timestamptz NOT NULL DEFAULT now()
        );
        """
    )
    for table in ("audit_tree_leaves", "audit_checkpoints"):
        op.execute(
            f"""
            ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant_isolation ON {table}
                USING (tenant_id = platinum_current_tenant());
            """
        )
    for table in ("audit_tree_leaves", "audit_checkpoints", "audit_signing_keys"):
        op.execute(
            f"""
            GRANT SELECT ON {table} TO platinum_api;
            GRANT SELECT, INSERT ON {table} TO platinum_system;
            CREATE TRIGGER {table}_append_only_rows BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION platinum_audit_reject();
            CREATE TRIGGER {table}_append_only_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION platinum_audit_reject();
            """
        )


def downgrade() -> None:
    op.execute(
        "DROP TABLE audit_signing_keys; DROP TABLE audit_checkpoints;"
        " DROP TABLE audit_tree_leaves; DROP FUNCTION platinum_audit_leaf(audit_events);"
    )
