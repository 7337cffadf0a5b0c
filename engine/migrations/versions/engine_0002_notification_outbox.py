"""Notification outbox: one row per requested notification until it is sent or given up.

Written by the ``outbox`` projection (exactly once per Notification.Created event), claimed by
dispatchers with ``FOR UPDATE SKIP LOCKED`` and a lease. See docs/notifications.md.

Revision ID: engine_0002
Revises: engine_runtime_0001
"""

from alembic import op

revision = "engine_0002"
down_revision = "engine_runtime_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE notification_outbox (
            id bigserial PRIMARY KEY,
            tenant_id uuid NOT NULL,
            notification_id uuid NOT NULL UNIQUE,
            channel varchar(50) NOT NULL,
            -- urgent=0, high=1, medium=2, low=3: ORDER BY priority puts urgent first
            priority smallint NOT NULL CHECK (priority BETWEEN 0 AND 3),
            -- the Created event's position in platform_events: the "created order"
            event_position bigint NOT NULL,
            not_before timestamptz NOT NULL DEFAULT now(),
            attempts integer NOT NULL DEFAULT 0,
            lease_until timestamptz,
            worker text,
            status varchar(20) NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'leased')),
            last_error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX notification_outbox_order ON notification_outbox (priority, event_position);
        CREATE INDEX notification_outbox_tenant ON notification_outbox (tenant_id);
        GRANT SELECT, INSERT, UPDATE, DELETE ON notification_outbox TO platinum_system;
        GRANT USAGE, SELECT ON SEQUENCE notification_outbox_id_seq TO platinum_system;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE notification_outbox")
