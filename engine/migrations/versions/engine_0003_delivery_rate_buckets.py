"""Per-tenant token buckets of the notification rate limit, shared by every dispatcher.

Operational state: UNLOGGED (a database crash refills every bucket, which only lets one burst
through early), one row per tenant that has sent something, written only by dispatchers.

Revision ID: engine_0003
Revises: engine_0002
"""

from alembic import op

revision = "engine_0003"
down_revision = "engine_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE UNLOGGED TABLE delivery_rate_buckets (
            tenant_id uuid PRIMARY KEY,
            tokens float8 NOT NULL CHECK (tokens >= 0),
            updated_at timestamptz NOT NULL,
            last_wait_s float8 NOT NULL DEFAULT 0
        );
        GRANT SELECT, INSERT, UPDATE ON delivery_rate_buckets TO platinum_system;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE delivery_rate_buckets")
