"""Read model baseline: tenants (the first vertical slice), RLS helpers.

Revision ID: readmodel_0001
Revises:
"""

from alembic import op

revision = "readmodel_0001"
down_revision = None
branch_labels = ("readmodel",)
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION platinum_current_tenant() RETURNS uuid
        LANGUAGE sql STABLE AS
        $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;

        DO $$ BEGIN
          CREATE TYPE tenant_status AS ENUM ('active', 'suspended', 'cancelled');
        EXCEPTION WHEN duplicate_object THEN NULL; END $$;

        CREATE TABLE tenants (
            id uuid PRIMARY KEY,
            name varchar(255) NOT NULL CHECK (char_length(name) BETWEEN 2 AND 255),
            slug varchar(100) NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
            config jsonb,
            billing_info jsonb,
            status tenant_status NOT NULL DEFAULT 'active',
            version bigint NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        );
        ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
        ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON tenants USING (id = platinum_current_tenant());
        GRANT SELECT ON tenants TO platinum_api;
        GRANT SELECT, INSERT, UPDATE, DELETE ON tenants TO platinum_system;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE tenants; DROP TYPE tenant_status;")
