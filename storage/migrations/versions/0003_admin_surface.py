"""The admin surface: project limits and daily usage, test keys, redaction rules, viewer-token
signing secrets, and anonymous streams with their events.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _event_columns() -> list[sa.Column[object]]:
    """The columns every events-like table shares after its leading key."""
    return [
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
    ]


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("daily_event_limit", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("alert_rule_limit", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("webhooks_disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("test", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "project_daily_usage",
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "day", name="pk_project_daily_usage"),
    )
    op.create_table(
        "redaction_rules",
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("type", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("pattern", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("behavior", sa.SmallInteger(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=True),
        sa.Column("updated_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("project_id", "id", name="pk_redaction_rules"),
    )
    op.create_table(
        "signing_secrets",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_signing_secrets"),
    )
    op.create_table(
        "streams",
        sa.Column("token", sa.String(36), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("expires_us", sa.BigInteger(), nullable=False),
        sa.Column("claimed_us", sa.BigInteger(), nullable=True),
        sa.Column("claimed_project", sa.String(63), nullable=True),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("day_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("token", name="pk_streams"),
    )
    op.create_table(
        "stream_events",
        sa.Column("token", sa.String(36), nullable=False),
        *_event_columns(),
        sa.PrimaryKeyConstraint("token", "id", name="pk_stream_events"),
    )
    op.create_index(
        "uq_stream_events_idempotency",
        "stream_events",
        ["token", "idempotency_key"],
        unique=True,
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_stream_events_idempotency", table_name="stream_events")
    for table in ("stream_events", "streams", "signing_secrets", "redaction_rules", "project_daily_usage"):
        op.drop_table(table)
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("test")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("webhooks_disabled")
        batch.drop_column("alert_rule_limit")
        batch.drop_column("daily_event_limit")
