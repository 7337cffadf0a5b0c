"""Failed logins, shared by every API process (the login throttle's sliding windows).

Operational state, not history: UNLOGGED (no WAL; emptied by a crash, which only forgives
recent failures), never projected, pruned as it expires. ``bucket`` is ``a:<HMAC of tenant
and email>`` (no address in clear) or ``i:<client address>``; ``attempt`` is the login attempt
that counted the row (counted before the password check, deleted when it was right).

Revision ID: api_0001
Revises:
"""

from alembic import op

revision = "api_0001"
down_revision = None
branch_labels = ("api",)
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE UNLOGGED TABLE login_failures (
            bucket text NOT NULL,
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            attempt uuid  -- the login attempt that counted it (uncounted if it succeeds)
        );
        CREATE INDEX login_failures_by_bucket ON login_failures (bucket, at DESC);
        CREATE INDEX login_failures_by_time ON login_failures (at);
        CREATE INDEX login_failures_by_attempt ON login_failures (attempt);
        GRANT SELECT, INSERT, DELETE ON login_failures TO platinum_api;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE login_failures")
