"""Projections that are stuck on an event: which event, since when, and why.

A projection stops at an event it cannot apply (a bug in a handler, a constraint the events do
not satisfy): skipping it would make the view silently disagree with the events. The runner
isolates the event (it retries one event at a time after a failed batch), records it here, and
retries with back-off; the batch transaction that gets past the event deletes the row,
whichever process applies it (after a fix and a restart, or another projector taking over).
``/readyz`` (which event; not the error text, which may quote tenant data) and ``/metrics``
(platinum_projection_failing) show it to operators, whichever
process runs the projector. Readable by the system role only: an error text may quote values.

Revision ID: readmodel_0004
Revises: readmodel_0003
"""

from alembic import op

revision = "readmodel_0004"
down_revision = "readmodel_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE projection_failures (
            projection varchar(64) NOT NULL,
            application varchar(64) NOT NULL,
            notification_id bigint NOT NULL,
            topic text NOT NULL,
            error text NOT NULL,
            attempts integer NOT NULL DEFAULT 1,
            first_failed_at timestamptz NOT NULL DEFAULT now(),
            last_failed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (projection, application)
        );
        GRANT SELECT, INSERT, UPDATE, DELETE ON projection_failures TO platinum_system;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE projection_failures")
