"""Events a projection parked: their data cannot be applied, so they wait aside while every
other aggregate's (and every other tenant's) events flow on.

One row per parked event: which projection and application, its position, its aggregate and
tenant, the error. Later events of a parked aggregate are parked behind it, so the aggregate's
rows stay as a rebuild would leave them before its first parked event. ``/readyz`` (counts,
not error texts) and ``/metrics`` (``platinum_projection_parked``) show them;
``platinum projections retry`` applies them again once fixed; a rebuild starts afresh.
Readable by the system role only: an error text may quote values.

Revision ID: readmodel_0006
Revises: readmodel_0004
"""

from alembic import op

revision = "readmodel_0006"
down_revision = "readmodel_0004"
branch_labels = None
depends_on = None  # platinum_current_tenant() comes from readmodel_0001


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE projection_parked (
            projection varchar(64) NOT NULL,
            application varchar(64) NOT NULL,
            notification_id bigint NOT NULL,
            originator_id uuid NOT NULL,
            originator_version bigint,
            topic text NOT NULL,
            tenant_id text,
            error text NOT NULL,
            parked_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (projection, application, notification_id)
        );
        CREATE INDEX projection_parked_aggregate
            ON projection_parked (projection, application, originator_id);
        GRANT SELECT, INSERT, UPDATE, DELETE ON projection_parked TO platinum_system;
        -- every table with a tenant_id is fenced by row-level security (docs/security.md);
        -- the system role, the only one granted, bypasses it
        ALTER TABLE projection_parked ENABLE ROW LEVEL SECURITY;
        ALTER TABLE projection_parked FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON projection_parked
            USING (tenant_id = platinum_current_tenant()::text);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE projection_parked")
