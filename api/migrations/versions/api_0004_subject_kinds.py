"""Subjects of two kinds: users (erasure) and runs (retention, docs/erasure.md).

``subject_keys.kind`` says whose key a row holds; every row before this revision is a user's.
The retention sweep reads the runs whose key is not yet destroyed through the partial index
``subject_keys_live_runs`` (per tenant), so a pass costs the runs still holding data, not every
run ever shredded.

Revision ID: api_0004
Revises: api_0003
"""

from alembic import op

revision = "api_0004"
down_revision = "api_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE subject_keys ADD COLUMN kind text NOT NULL DEFAULT 'user'"
        " CHECK (kind IN ('user', 'run'))"
    )
    op.execute(
        "CREATE INDEX subject_keys_live_runs ON subject_keys (tenant_id)"
        " WHERE kind = 'run' AND erased_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX subject_keys_live_runs")
    op.execute("ALTER TABLE subject_keys DROP COLUMN kind")
