"""Read model of the runs application: ``runs`` and ``run_steps`` (one row per step and per
foreach item).

No foreign key points at the platform's tables (tenants, workflows): the two applications are
projected by separate runners that may be at different positions, and a run's events can be
projected before its workflow's. ``run_steps.run_id`` does reference ``runs`` (same stream).

Revision ID: readmodel_0002
Revises: readmodel_0001
"""

from alembic import op

revision = "readmodel_0002"
down_revision = "readmodel_0001"
branch_labels = None
depends_on = None

RUN_STATUSES = ("pending", "running", "succeeded", "failed", "cancelled", "paused")
STEP_STATUSES = ("pending", "scheduled", "running", "succeeded", "failed", "skipped", "cancelled")


def _enum(name: str, values: tuple[str, ...]) -> str:
    labels = ", ".join(f"'{v}'" for v in values)
    return (
        f"DO $$ BEGIN CREATE TYPE {name} AS ENUM ({labels});"
        " EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
    )


def upgrade() -> None:
    op.execute(_enum("run_status", RUN_STATUSES) + _enum("step_status", STEP_STATUSES))
    op.execute(
        """
        CREATE TABLE runs (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL,
            workflow_id uuid NOT NULL,
            workflow_version integer NOT NULL CHECK (workflow_version > 0),
            definition_hash varchar(128) NOT NULL,
            status run_status NOT NULL DEFAULT 'running',
            input jsonb,
            output jsonb,
            reason text,
            started_by varchar(255) NOT NULL,
            idempotency_key varchar(255),
            version bigint NOT NULL CHECK (version > 0),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            ended_at timestamptz,
            UNIQUE (tenant_id, id),
            CHECK ((ended_at IS NULL) = (status NOT IN ('succeeded', 'failed', 'cancelled')))
        );
        CREATE INDEX runs_by_tenant ON runs (tenant_id, created_at, id);
        CREATE INDEX runs_by_workflow ON runs (tenant_id, workflow_id, created_at, id);
        CREATE INDEX runs_by_status ON runs (tenant_id, status, created_at, id);
        CREATE INDEX runs_by_idempotency_key ON runs (tenant_id, idempotency_key)
            WHERE idempotency_key IS NOT NULL;

        CREATE TABLE run_steps (
            tenant_id uuid NOT NULL,
            run_id uuid NOT NULL,
            step_id varchar(255) NOT NULL,
            item_index integer CHECK (item_index >= 0),
            status step_status NOT NULL DEFAULT 'pending',
            attempt integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
            lost integer NOT NULL DEFAULT 0 CHECK (lost >= 0),
            input jsonb,
            output jsonb,
            error jsonb,
            reason text,
            not_before timestamptz,
            failed_at timestamptz,
            worker_id varchar(255),
            lease_until timestamptz,
            waiting jsonb,
            item_values jsonb,
            version bigint NOT NULL CHECK (version > 0),
            updated_at timestamptz NOT NULL,
            -- item_index NULL is the step itself, n >= 0 its foreach item n
            CONSTRAINT run_steps_key UNIQUE NULLS NOT DISTINCT (run_id, step_id, item_index),
            FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id)
                DEFERRABLE INITIALLY DEFERRED
        );
        CREATE INDEX run_steps_by_tenant ON run_steps (tenant_id, run_id);
        CREATE INDEX run_steps_leases ON run_steps (lease_until) WHERE status = 'running';
        """
    )
    for table in ("runs", "run_steps"):
        op.execute(
            f"""
            ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant_isolation ON {table}
                USING (tenant_id = platinum_current_tenant());
            GRANT SELECT ON {table} TO platinum_api;
            GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON {table} TO platinum_system;
            """
        )


def downgrade() -> None:
    op.execute("DROP TABLE run_steps; DROP TABLE runs;")
    op.execute("DROP TYPE step_status; DROP TYPE run_status;")
