"""Triggers in the read model: ``schedules`` and ``hooks`` (no secret), and ``runs.trigger``.

Both tables are tenant-scoped with row-level security like every other (ENABLE + FORCE, the
``tenant_isolation`` policy); the API's role reads, the projector's role writes. A deleted
schedule or hook is a deleted row. ``runs.trigger`` is what started a run besides a caller
(``{"kind": "schedule", "id", "tick"}`` or ``{"kind": "hook", "id", "delivery"}``), NULL for
the others and for runs started before it existed.

Revision ID: readmodel_0009
Revises: readmodel_0008
"""

from alembic import op

revision = "readmodel_0009"
down_revision = "readmodel_0008"
branch_labels = None
depends_on = None

FK = "DEFERRABLE INITIALLY DEFERRED"


def _secure(table: str) -> str:
    return f"""
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON {table}
            USING (tenant_id = platinum_current_tenant());
        GRANT SELECT ON {table} TO platinum_api;
        GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON {table} TO platinum_system;
    """


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE schedules (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES tenants (id) {FK},
            workflow_id uuid NOT NULL,
            cron varchar(200) NOT NULL,
            timezone varchar(64) NOT NULL,
            input jsonb,
            overlap varchar(20) NOT NULL
                CHECK (overlap IN ('skip', 'allow', 'cancel_previous')),
            catchup varchar(10) NOT NULL CHECK (catchup IN ('none', 'last', 'all')),
            status varchar(10) NOT NULL CHECK (status IN ('active', 'paused')),
            active_since timestamptz NOT NULL,
            created_by uuid,
            version bigint NOT NULL CHECK (version > 0),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflows (tenant_id, id) {FK}
        );
        CREATE INDEX schedules_by_workflow ON schedules (tenant_id, workflow_id, created_at, id);
        CREATE INDEX schedules_active ON schedules (status) WHERE status = 'active';

        CREATE TABLE hooks (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES tenants (id) {FK},
            workflow_id uuid NOT NULL,
            mapping text,
            created_by uuid,
            version bigint NOT NULL CHECK (version > 0),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflows (tenant_id, id) {FK}
        );
        CREATE INDEX hooks_by_workflow ON hooks (tenant_id, workflow_id, created_at, id);

        ALTER TABLE runs ADD COLUMN trigger jsonb;
        """
        + _secure("schedules")
        + _secure("hooks")
    )


def downgrade() -> None:
    op.execute("ALTER TABLE runs DROP COLUMN trigger; DROP TABLE hooks; DROP TABLE schedules")
