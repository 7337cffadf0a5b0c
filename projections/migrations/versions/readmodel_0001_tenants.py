"""Read model of the platform application: tenants, users, workflows, skills, messaging.

Every tenant-scoped table has ``tenant_id`` and row-level security (ENABLE + FORCE) with the
policy ``tenant_id = platinum_current_tenant()``; the API's role (NOBYPASSRLS, owns nothing)
may only SELECT, the projector's role (BYPASSRLS) writes. ``roles``, ``marketplace_skills`` and
``marketplace_skill_versions`` are global. Every row carries ``version``: the version of the
aggregate whose event last wrote it (the API's ETag).

Foreign keys between these tables are DEFERRABLE INITIALLY DEFERRED: the projector applies a
batch of events in one transaction and the order of aggregates inside one save is the domain's
business. Columns naming who did something (``created_by``, ``installed_by``, ``assigned_by``)
have no foreign key: the actor may be an API key or the platform admin, not a user.

Revision ID: readmodel_0001
Revises:
"""

from alembic import op

revision = "readmodel_0001"
down_revision = None
branch_labels = ("readmodel",)
depends_on = None

TENANT_TABLES = (
    "users",
    "user_roles",
    "sessions",
    "api_keys",
    "tenant_config",
    "user_preferences",
    "preference_identities",
    "workflows",
    "workflow_versions",
    "installed_skills",
    "notifications",
    "conversations",
)
GLOBAL_TABLES = ("roles", "marketplace_skills", "marketplace_skill_versions")

ENUMS = {
    "tenant_status": ("active", "suspended", "cancelled"),
    "user_role": ("admin", "manager", "user", "viewer"),
    "user_status": ("active", "inactive", "invited"),
    "workflow_status": ("draft", "active", "paused", "archived"),
    "skill_status": ("active", "pending", "rejected", "archived"),
    "installation_status": ("active", "disabled"),
    "notification_channel": ("email", "sms", "push", "slack", "discord"),
    "notification_priority": ("low", "medium", "high", "urgent"),
    "notification_status": ("pending", "sent", "delivered", "failed"),
}

FK = "DEFERRABLE INITIALLY DEFERRED"


def _enums() -> str:
    out = []
    for name, values in ENUMS.items():
        labels = ", ".join(f"'{v}'" for v in values)
        out.append(
            f"DO $$ BEGIN CREATE TYPE {name} AS ENUM ({labels});"
            " EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
        )
    return "\n".join(out)


def secure(table: str, *, tenant_column: str | None = "tenant_id") -> str:
    """RLS (when tenant-scoped) and grants: the API reads, the projector writes."""
    sql = ""
    if tenant_column:
        sql += f"""
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON {table}
            USING ({tenant_column} = platinum_current_tenant());
        """
    sql += f"""
        GRANT SELECT ON {table} TO platinum_api;
        GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON {table} TO platinum_system;
    """
    return sql


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION platinum_current_tenant() RETURNS uuid
        LANGUAGE sql STABLE AS
        $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;
        """
        + _enums()
    )
    op.execute(
        f"""
        CREATE TABLE tenants (
            id uuid PRIMARY KEY,
            name varchar(255) NOT NULL CHECK (char_length(name) BETWEEN 2 AND 255),
            slug varchar(100) NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
            config jsonb,
            billing_info jsonb,
            status tenant_status NOT NULL DEFAULT 'active',
            version bigint NOT NULL CHECK (version > 0),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        );
        CREATE INDEX tenants_created ON tenants (created_at, id);

        CREATE TABLE tenant_config (
            tenant_id uuid NOT NULL REFERENCES tenants (id) {FK},
            config_key varchar(100) NOT NULL,
            config_value jsonb NOT NULL,
            version bigint NOT NULL CHECK (version > 0),
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, config_key)
        );

        CREATE TABLE users (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES tenants (id) {FK},
            email varchar(255) NOT NULL CHECK (email LIKE '%_@_%'),
            name varchar(255) NOT NULL,
            role user_role NOT NULL DEFAULT 'user',
            status user_status NOT NULL DEFAULT 'active',
            last_login timestamptz,
            version bigint NOT NULL CHECK (version > 0),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            UNIQUE (tenant_id, id),
            UNIQUE (tenant_id, email)
        );
        CREATE INDEX users_by_tenant ON users (tenant_id, created_at, id);

        CREATE TABLE roles (
            id uuid PRIMARY KEY,
            name varchar(100) NOT NULL,
            description text,
            permissions jsonb NOT NULL CHECK (jsonb_typeof(permissions) = 'array'),
            builtin boolean NOT NULL DEFAULT false,
            version bigint NOT NULL CHECK (version > 0),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        );
        CREATE UNIQUE INDEX roles_name ON roles (lower(name));

        CREATE TABLE user_roles (
            tenant_id uuid NOT NULL,
            user_id uuid NOT NULL,
            role_id uuid NOT NULL REFERENCES roles (id) {FK},
            assigned_at timestamptz NOT NULL,
            assigned_by uuid,
            version bigint NOT NULL CHECK (version > 0),
            PRIMARY KEY (user_id, role_id),
            FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) {FK}
        );
        CREATE INDEX user_roles_by_tenant ON user_roles (tenant_id, user_id);
        CREATE INDEX user_roles_by_role ON user_roles (role_id);

        CREATE TABLE sessions (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL,
            user_id uuid NOT NULL,
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz,
            version bigint NOT NULL CHECK (version > 0),
            created_at timestamptz NOT NULL,
            FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) {FK}
        );
        CREATE INDEX sessions_by_user ON sessions (tenant_id, user_id, created_at);
        CREATE INDEX sessions_expiry ON sessions (expires_at) WHERE revoked_at IS NULL;

        CREATE TABLE api_keys (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES tenants (id) {FK},
            name varchar(255) NOT NULL,
            role user_role NOT NULL,
            created_by uuid,
            revoked_at timestamptz,
            version bigint NOT NULL CHECK (version > 0),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        );
        CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at, id);

        CREATE TABLE user_preferences (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL,
            user_id uuid NOT NULL,
            preference_key varchar(100) NOT NULL,
            preference_value text NOT NULL,
            version bigint NOT NULL CHECK (version > 0),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            UNIQUE (user_id, preference_key),
            FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) {FK}
        );
        CREATE INDEX user_preferences_by_tenant ON user_preferences (tenant_id, user_id);

        -- who a preference aggregate belongs to, kept after a delete: a later "Changed"
        -- event revives the row and carries only the value (projector-internal)
        CREATE TABLE preference_identities (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL,
            user_id uuid NOT NULL,
            preference_key varchar(100) NOT NULL,
            created_at timestamptz NOT NULL
        );

        CREATE TABLE workflows (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES tenants (id) {FK},
            name varchar(255) NOT NULL,
            definition jsonb NOT NULL,
            current_version integer NOT NULL CHECK (current_version > 0),
            created_by uuid,
            status workflow_status NOT NULL DEFAULT 'draft',
            version bigint NOT NULL CHECK (version > 0),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            UNIQUE (tenant_id, id)
        );
        CREATE INDEX workflows_by_tenant ON workflows (tenant_id, created_at, id);
        CREATE INDEX workflows_by_status ON workflows (tenant_id, status, created_at, id);

        CREATE TABLE workflow_versions (
            tenant_id uuid NOT NULL,
            workflow_id uuid NOT NULL,
            definition_version integer NOT NULL CHECK (definition_version > 0),
            definition jsonb NOT NULL,
            created_by uuid,
            created_at timestamptz NOT NULL,
            version bigint NOT NULL CHECK (version > 0),
            PRIMARY KEY (workflow_id, definition_version),
            FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflows (tenant_id, id) {FK}
        );
        CREATE INDEX workflow_versions_by_tenant ON workflow_versions (tenant_id, workflow_id);

        CREATE TABLE marketplace_skills (
            id uuid PRIMARY KEY,
            name varchar(255) NOT NULL,
            description text NOT NULL DEFAULT '',
            category varchar(100) NOT NULL,
            definition jsonb NOT NULL,
            author varchar(255),
            developer_id uuid,
            latest_version varchar(20) NOT NULL DEFAULT '1.0.0'
                CHECK (latest_version ~ '^[0-9]+\\.[0-9]+\\.[0-9]+'),
            price numeric(10, 2) NOT NULL DEFAULT 0 CHECK (price >= 0),
            rating numeric(3, 2) CHECK (rating BETWEEN 0 AND 5),
            downloads integer NOT NULL DEFAULT 0 CHECK (downloads >= 0),
            is_public boolean NOT NULL DEFAULT false,
            status skill_status NOT NULL DEFAULT 'pending',
            review_reason text,
            version bigint NOT NULL CHECK (version > 0),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        );
        CREATE INDEX marketplace_skills_browse
            ON marketplace_skills (status, category, created_at, id);
        CREATE INDEX marketplace_skills_created ON marketplace_skills (created_at, id);
        CREATE INDEX marketplace_skills_search ON marketplace_skills
            USING gin (to_tsvector('simple', name || ' ' || description));

        CREATE TABLE marketplace_skill_versions (
            skill_id uuid NOT NULL REFERENCES marketplace_skills (id) {FK},
            skill_version varchar(20) NOT NULL,
            definition jsonb NOT NULL,
            published_at timestamptz NOT NULL,
            version bigint NOT NULL CHECK (version > 0),
            PRIMARY KEY (skill_id, skill_version)
        );

        -- the data model's "Skill": the same entity as a marketplace skill (one aggregate)
        CREATE VIEW skills WITH (security_invoker = true) AS
            SELECT id, name, description, category, definition, author,
                   latest_version AS skill_version, price, rating, downloads, is_public,
                   status, version, created_at, updated_at
            FROM marketplace_skills;
        GRANT SELECT ON skills TO platinum_api, platinum_system;

        CREATE TABLE installed_skills (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES tenants (id) {FK},
            skill_id uuid NOT NULL REFERENCES marketplace_skills (id) {FK},
            skill_version varchar(20) NOT NULL,
            config jsonb,
            installed_by uuid,
            installed_at timestamptz NOT NULL,
            status installation_status NOT NULL DEFAULT 'active',
            version bigint NOT NULL CHECK (version > 0),
            updated_at timestamptz NOT NULL,
            UNIQUE (tenant_id, skill_id)
        );
        CREATE INDEX installed_skills_by_tenant ON installed_skills (tenant_id, installed_at, id);

        CREATE TABLE notifications (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL,
            recipient_user_id uuid NOT NULL,
            type varchar(50) NOT NULL,
            title varchar(255) NOT NULL,
            message text NOT NULL,
            channel notification_channel NOT NULL,
            priority notification_priority NOT NULL DEFAULT 'medium',
            status notification_status NOT NULL DEFAULT 'pending',
            attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            provider_id varchar(255),
            failure_reason text,
            sent_at timestamptz,
            delivered_at timestamptz,
            read_at timestamptz,
            version bigint NOT NULL CHECK (version > 0),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            FOREIGN KEY (tenant_id, recipient_user_id) REFERENCES users (tenant_id, id) {FK}
        );
        CREATE INDEX notifications_by_recipient
            ON notifications (tenant_id, recipient_user_id, created_at, id);
        CREATE INDEX notifications_by_tenant ON notifications (tenant_id, created_at, id);
        CREATE INDEX notifications_pending ON notifications (created_at)
            WHERE status = 'pending';

        CREATE TABLE conversations (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL,
            user_id uuid NOT NULL,
            session_id varchar(255) NOT NULL,
            input_text text NOT NULL,
            output_text text NOT NULL,
            context_data jsonb,
            version bigint NOT NULL CHECK (version > 0),
            created_at timestamptz NOT NULL,
            FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) {FK}
        );
        CREATE INDEX conversations_by_session
            ON conversations (tenant_id, user_id, session_id, created_at, id);
        CREATE INDEX conversations_by_tenant ON conversations (tenant_id, created_at, id);
        """
    )
    op.execute(secure("tenants", tenant_column="id"))
    for table in TENANT_TABLES:
        op.execute(secure(table))
    for table in GLOBAL_TABLES:
        op.execute(secure(table, tenant_column=None))


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS skills")
    for table in (*reversed(TENANT_TABLES), *GLOBAL_TABLES, "tenants"):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    for name in ENUMS:
        op.execute(f"DROP TYPE IF EXISTS {name}")
