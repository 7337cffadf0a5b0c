"""Links between runs: a child run's parent (``parent_run_id``, the step that started it and the
run's nesting ``depth``) and a rerun's original (``rerun_of``). ``GET /v1/runs/{id}`` lists a
run's children by ``parent_run_id``. Rows of older runs keep NULLs (and depth 0).

Revision ID: readmodel_0008
Revises: readmodel_0007
"""

from alembic import op

revision = "readmodel_0008"
down_revision = "readmodel_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE runs
            ADD COLUMN parent_run_id uuid,
            ADD COLUMN parent_step_id varchar(63),
            ADD COLUMN parent_item_index integer,
            ADD COLUMN depth integer NOT NULL DEFAULT 0 CHECK (depth >= 0),
            ADD COLUMN rerun_of uuid;
        CREATE INDEX runs_by_parent ON runs (tenant_id, parent_run_id, created_at, id)
            WHERE parent_run_id IS NOT NULL;
        ALTER TABLE run_steps ADD COLUMN reused_from uuid;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX runs_by_parent;
        ALTER TABLE run_steps DROP COLUMN reused_from;
        ALTER TABLE runs DROP COLUMN parent_run_id, DROP COLUMN parent_step_id,
            DROP COLUMN parent_item_index, DROP COLUMN depth, DROP COLUMN rerun_of;
        """
    )
