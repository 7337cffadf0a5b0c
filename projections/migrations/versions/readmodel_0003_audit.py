"""The audit log: append-only, row-level secured, and hash-chained per (tenant, source).

* One row per domain event of either application (``source`` = 'platform' or 'runs'), written
  only by the audit projection (role ``platinum_system``: SELECT, INSERT; nothing else).
* Append-only for everyone, the owner included: a trigger rejects UPDATE, DELETE and TRUNCATE.
  Rebuilding the log is an owner operation that disables the truncate trigger for one
  transaction (``projections.audit.projection.reset_audit_log``).
* Tamper-evident: a BEFORE INSERT trigger assigns ``seq``, ``prev_hash`` and
  ``hash = sha256(canonical JSON of the row)`` from the head of the row's chain, so no writer
  can produce a row outside the chain. Global events (roles, marketplace) have no tenant and
  form the platform's chain (``tenant_id IS NULL``), visible to no tenant.
* The canonical JSON is PostgreSQL's rendering of ``jsonb_build_object(...)`` (keys ordered
  by length then bytes, no insignificant variation), times in UTC with microseconds.

No foreign keys: the audit projection runs independently of the read model, and the log must
outlive anything it refers to.

Revision ID: readmodel_0003
Revises: readmodel_0002
"""

from alembic import op

revision = "readmodel_0003"
down_revision = "readmodel_0002"
branch_labels = None
depends_on = None

# Keep identical to projections.audit.chain.CANONICAL_SQL (the verify test proves it).
CANONICAL = """
    jsonb_build_object(
        'id', a.id,
        'tenant_id', a.tenant_id,
        'source', a.source,
        'seq', a.seq,
        'prev_hash', a.prev_hash,
        'notification_id', a.notification_id,
        'originator_id', a.originator_id,
        'originator_version', a.originator_version,
        'action', a.action,
        'resource_type', a.resource_type,
        'resource_id', a.resource_id,
        'user_id', a.user_id,
        'actor_kind', a.actor_kind,
        'ip_address', a.ip_address::text,
        'user_agent', a.user_agent,
        'request_id', a.request_id,
        'timestamp', to_char(a."timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'details', a.details
    )::text
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE audit_events (
            id uuid PRIMARY KEY,
            tenant_id uuid,
            source varchar(32) NOT NULL,
            seq bigint NOT NULL CHECK (seq > 0),
            prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
            hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
            notification_id bigint NOT NULL,
            originator_id uuid NOT NULL,
            originator_version bigint NOT NULL CHECK (originator_version > 0),
            action varchar(100) NOT NULL,
            resource_type varchar(100) NOT NULL,
            resource_id varchar(255),
            user_id uuid,
            actor_kind varchar(32),
            ip_address inet,
            user_agent text,
            request_id varchar(255),
            "timestamp" timestamptz NOT NULL,
            details jsonb,
            CONSTRAINT audit_events_chain UNIQUE NULLS NOT DISTINCT (tenant_id, source, seq),
            CONSTRAINT audit_events_position UNIQUE (source, notification_id),
            CONSTRAINT audit_events_event UNIQUE (source, originator_id, originator_version)
        );
        CREATE INDEX audit_events_by_time ON audit_events (tenant_id, "timestamp", id);
        CREATE INDEX audit_events_by_user ON audit_events (tenant_id, user_id, "timestamp");
        CREATE INDEX audit_events_by_action ON audit_events (tenant_id, action, "timestamp");
        CREATE INDEX audit_events_by_resource
            ON audit_events (tenant_id, resource_type, resource_id, "timestamp");
        CREATE INDEX audit_events_by_originator
            ON audit_events (originator_id, originator_version);

        ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
        ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON audit_events
            USING (tenant_id = platinum_current_tenant());
        GRANT SELECT ON audit_events TO platinum_api;
        GRANT SELECT, INSERT ON audit_events TO platinum_system;

        CREATE OR REPLACE FUNCTION platinum_audit_reject() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER audit_events_append_only_rows BEFORE UPDATE OR DELETE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION platinum_audit_reject();
        CREATE TRIGGER audit_events_append_only_truncate BEFORE TRUNCATE ON audit_events
            FOR EACH STATEMENT EXECUTE FUNCTION platinum_audit_reject();
        """
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION platinum_audit_canonical(a audit_events) RETURNS text
        LANGUAGE sql STABLE AS $$ SELECT {CANONICAL} $$;

        CREATE OR REPLACE FUNCTION platinum_audit_chain() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
          head_seq bigint;
          head_hash text;
        BEGIN
          IF NEW.tenant_id IS NULL THEN
            SELECT seq, hash INTO head_seq, head_hash FROM audit_events
             WHERE tenant_id IS NULL AND source = NEW.source ORDER BY seq DESC LIMIT 1;
          ELSE
            SELECT seq, hash INTO head_seq, head_hash FROM audit_events
             WHERE tenant_id = NEW.tenant_id AND source = NEW.source ORDER BY seq DESC LIMIT 1;
          END IF;
          NEW.seq := coalesce(head_seq, 0) + 1;
          NEW.prev_hash := coalesce(head_hash, repeat('0', 64));
          NEW.hash := encode(sha256(convert_to(platinum_audit_canonical(NEW), 'UTF8')), 'hex');
          RETURN NEW;
        END $$;
        CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
            FOR EACH ROW EXECUTE FUNCTION platinum_audit_chain();
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE audit_events CASCADE; DROP FUNCTION platinum_audit_chain();"
        " DROP FUNCTION platinum_audit_reject();"
    )
