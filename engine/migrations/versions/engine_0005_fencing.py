"""Fencing tokens on the work queue: ``run_tasks.fence`` and the check a result's save makes.

Every claim of a row from the queue takes the next value of ``run_task_fences`` (it starts at
2); the first lease a worker takes of an attempt it scheduled itself has token 1. So a re-claim
always carries a larger token than any lease of the attempt before it. A worker's save of a
result (or of an attempt's start) calls ``run_tasks_check_fences`` in its transaction: it locks
the rows and raises SQLSTATE ``PF409`` unless each still has that attempt and that token, so a
worker that lost its lease cannot commit.

Revision ID: engine_0005
Revises: engine_0003
"""

from alembic import op

revision = "engine_0005"
down_revision = "engine_0004"
branch_labels = None
depends_on = None  # run_tasks comes from engine_runtime_0001, an ancestor


def upgrade() -> None:
    op.execute(
        """
        CREATE SEQUENCE run_task_fences AS bigint START WITH 2 MINVALUE 2;
        ALTER TABLE run_tasks ADD COLUMN fence bigint NOT NULL DEFAULT 0;
        GRANT USAGE ON SEQUENCE run_task_fences TO platinum_system;

        CREATE FUNCTION run_tasks_check_fences(
            run_ids uuid[], step_ids text[], idxs integer[], attempts integer[], fences bigint[]
        ) RETURNS void LANGUAGE plpgsql AS $$
        DECLARE
            held integer;
        BEGIN
            SELECT count(*) INTO held FROM (
                SELECT 1 FROM run_tasks t
                JOIN unnest(run_ids, step_ids, idxs, attempts, fences)
                     AS d(run_id, step_id, idx, attempt, fence)
                  ON t.run_id = d.run_id AND t.step_id = d.step_id AND t.idx = d.idx
                 AND t.attempt = d.attempt AND t.fence = d.fence
                ORDER BY t.run_id, t.step_id, t.idx
                FOR UPDATE OF t
            ) AS locked;
            IF held < coalesce(array_length(run_ids, 1), 0) THEN
                RAISE EXCEPTION 'stale fencing token: % of % attempts were claimed again',
                    coalesce(array_length(run_ids, 1), 0) - held,
                    coalesce(array_length(run_ids, 1), 0)
                    USING ERRCODE = 'PF409';
            END IF;
        END
        $$;
        REVOKE ALL ON FUNCTION run_tasks_check_fences(uuid[], text[], integer[], integer[],
                                                      bigint[]) FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION run_tasks_check_fences(uuid[], text[], integer[], integer[],
                                                         bigint[]) TO platinum_system;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP FUNCTION run_tasks_check_fences(uuid[], text[], integer[], integer[], bigint[]);
        ALTER TABLE run_tasks DROP COLUMN fence;
        DROP SEQUENCE run_task_fences;
        """
    )
