"""Row-level security on the engine's tables; the API's role keeps no privilege on them.

``run_tasks``, ``notification_outbox`` and ``delivery_rate_buckets`` carry ``tenant_id`` like
every tenant table: ENABLE + FORCE row-level security with the read model's policy
(``tenant_id = platinum_current_tenant()``; ``run_tasks.tenant_id`` is text). The engine writes
them as the system role (BYPASSRLS), so the policy costs the engine nothing; any other role,
the owner included, sees only the tenant its transaction names. The API's role loses its
SELECT/INSERT/UPDATE/DELETE on ``run_tasks``: the API process saves runs (and their tasks)
through the system role's application (``api.composition``).

Revision ID: engine_0004
Revises: engine_0003
"""

from alembic import op

revision = "engine_0004"
down_revision = "engine_0003"
branch_labels = None
# run_tasks comes from the runtime's own head; the policy function from the read model's.
depends_on = "readmodel_0001"

POLICIES = {
    "run_tasks": "tenant_id = platinum_current_tenant()::text",
    "notification_outbox": "tenant_id = platinum_current_tenant()",
    "delivery_rate_buckets": "tenant_id = platinum_current_tenant()",
}


def upgrade() -> None:
    for table, using in POLICIES.items():
        op.execute(
            f"""
            ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
            DROP POLICY IF EXISTS tenant_isolation ON {table};
            CREATE POLICY tenant_isolation ON {table} USING ({using});
            REVOKE ALL ON {table} FROM platinum_api;
            """
        )


def downgrade() -> None:
    for table in POLICIES:
        op.execute(
            f"""
            DROP POLICY IF EXISTS tenant_isolation ON {table};
            ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;
            ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;
            """
        )
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON run_tasks TO platinum_api")
