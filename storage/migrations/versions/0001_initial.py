"""Organizations, projects, API keys and events.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("organization_id", sa.String(63), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name="fk_projects_organization_id_organizations"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
    )
    op.create_index("ix_projects_organization_id", "projects", ["organization_id"])
    op.create_table(
        "api_keys",
        sa.Column("organization_id", sa.String(63), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("project_id", sa.String(63), nullable=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("last_used_us", sa.BigInteger(), nullable=True),
        sa.Column("revoked_us", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name="fk_api_keys_organization_id_organizations"
        ),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name="fk_api_keys_project_id_projects"),
        sa.PrimaryKeyConstraint("organization_id", "id", name="pk_api_keys"),
        sa.UniqueConstraint("secret_sha256", name="uq_api_keys_secret_sha256"),
    )
    op.create_table(
        "events",
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("occurred_us", sa.BigInteger(), nullable=False),
        sa.Column("received_us", sa.BigInteger(), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("environment", sa.String(200), nullable=False),
        sa.Column("release", sa.String(200), nullable=False),
        sa.Column("trace_id", sa.String(200), nullable=True),
        sa.Column("fingerprint", sa.String(200), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "id", name="pk_events"),
    )
    op.create_index("ix_events_kind", "events", ["project_id", "kind", "id"])
    op.create_index("ix_events_service", "events", ["project_id", "service", "id"])
    op.create_index("ix_events_occurred", "events", ["project_id", "occurred_us"])
    not_null = {
        "trace_id": sa.text("trace_id IS NOT NULL"),
        "fingerprint": sa.text("fingerprint IS NOT NULL"),
        "idempotency_key": sa.text("idempotency_key IS NOT NULL"),
    }
    op.create_index(
        "ix_events_trace",
        "events",
        ["project_id", "trace_id"],
        sqlite_where=not_null["trace_id"],
        postgresql_where=not_null["trace_id"],
    )
    op.create_index(
        "ix_events_fingerprint",
        "events",
        ["project_id", "fingerprint", "id"],
        sqlite_where=not_null["fingerprint"],
        postgresql_where=not_null["fingerprint"],
    )
    op.create_index(
        "uq_events_idempotency",
        "events",
        ["project_id", "idempotency_key"],
        unique=True,
        sqlite_where=not_null["idempotency_key"],
        postgresql_where=not_null["idempotency_key"],
    )


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("api_keys")
    op.drop_table("projects")
    op.drop_table("organizations")
