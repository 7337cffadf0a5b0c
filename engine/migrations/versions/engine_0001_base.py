"""Engine baseline (branch root for the engine's operational tables).

Revision ID: engine_0001
Revises:
"""

revision = "engine_0001"
down_revision = None
branch_labels = ("engine",)
depends_on = None


def upgrade() -> None:
    """Nothing yet: the work-queue tables arrive with the workers."""


def downgrade() -> None:
    """Nothing to undo."""
