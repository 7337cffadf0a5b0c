"""The data subjects' wrapped keys (crypto-shredding, docs/erasure.md).

One row per data subject (a user): ``wrapped_key`` is the subject's AES-256 data key encrypted
under a key derived from the master cipher key; erasure sets it to NULL and stamps
``erased_at`` (the row stays so no new key is ever made for an erased subject). Row-level
secured like every tenant table; only the system role (the event-sourced applications) may
read or write it — the API's role has no privilege at all.

Revision ID: api_0003
Revises: api_0002
"""

from alembic import op

revision = "api_0003"
down_revision = "api_0002"
branch_labels = None
depends_on = ("readmodel_0001",)


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE subject_keys (
            subject_id uuid PRIMARY KEY,
            tenant_id uuid,
            wrapped_key bytea,
            created_at timestamptz NOT NULL DEFAULT now(),
            erased_at timestamptz,
            CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL))
        );
        CREATE INDEX subject_keys_by_tenant ON subject_keys (tenant_id);
        ALTER TABLE subject_keys ENABLE ROW LEVEL SECURITY;
        ALTER TABLE subject_keys FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON subject_keys
            USING (tenant_id = platinum_current_tenant());
        GRANT SELECT, INSERT, UPDATE ON subject_keys TO platinum_system;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE subject_keys")
