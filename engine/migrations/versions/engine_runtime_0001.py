"""The work queue of the runtime: ``run_tasks`` (ready step attempts and durable timers).

The root of the engine's migrations (branch ``engine``). Rows are derived data: written with
the runs' events in one transaction (engine.runtime.task_store) and rebuildable from them.
No RLS: only the engine's code writes it, on behalf of any tenant; the API role writes it too
(starting, cancelling and approving runs save task changes).

Revision ID: engine_runtime_0001
Revises: (none: the engine branch's root)
"""

from alembic import op

revision = "engine_runtime_0001"
down_revision = None
branch_labels = ("engine",)
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE run_tasks (
            run_id uuid NOT NULL,
            step_id text NOT NULL,
            idx integer NOT NULL DEFAULT -1,   -- -1: the step itself; n >= 0: foreach item n
            attempt integer NOT NULL CHECK (attempt >= 0),
            tenant_id text NOT NULL,
            kind text NOT NULL CHECK (kind IN ('step', 'timer')),
            ready_at timestamptz NOT NULL DEFAULT now(),
            worker_id text,
            lease_until timestamptz,
            claims integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (run_id, step_id, idx)
        ) WITH (fillfactor = 70);
        CREATE INDEX run_tasks_ready ON run_tasks (ready_at) WHERE lease_until IS NULL;
        CREATE INDEX run_tasks_leases ON run_tasks (lease_until) WHERE lease_until IS NOT NULL;
        CREATE INDEX run_tasks_tenant_leases ON run_tasks (tenant_id, lease_until)
            WHERE lease_until IS NOT NULL;
        GRANT SELECT, INSERT, UPDATE, DELETE ON run_tasks TO platinum_system, platinum_api;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE run_tasks")
