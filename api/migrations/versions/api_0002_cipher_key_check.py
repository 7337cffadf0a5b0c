"""The cipher key's fingerprint: every process checks it holds the key the events were written
with before it starts (one key per deployment; a process with another would write events no
other process can read).

One row: ``HMAC-SHA-256(key, "platinum cipher key check v1")`` in hex, which tells nothing about
the key. Written by ``platinum db upgrade`` (the owner) on its first run; read by the system role.

Revision ID: api_0002
Revises: api_0001
"""

from alembic import op

revision = "api_0002"
down_revision = "api_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE cipher_key_check (
            only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
            fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
            created_at timestamptz NOT NULL DEFAULT now()
        );
        GRANT SELECT ON cipher_key_check TO platinum_system;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE cipher_key_check")
