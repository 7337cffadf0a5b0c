"""Subjects of two kinds: users (erasure) and runs (retention, docs/erasure.md).

``subject_keys.kind`` says whose key a row holds; every row before this revision is a user's.
The retention sweep finds the runs whose key is not yet destroyed through ``subject_keys``'
primary key, so no other index is needed.

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


def downgrade() -> None:
    op.execute("ALTER TABLE subject_keys DROP COLUMN kind")
