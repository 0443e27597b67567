"""Alerting: alert rules and their shared counters and cooldown state, known fingerprints,
alerts, webhooks with their delivery outbox and attempts, and check-in monitors.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("type", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("condition", sa.LargeBinary(), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("window_s", sa.BigInteger(), nullable=False),
        sa.Column("group_by", sa.String(200), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("cooldown_s", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=True),
        sa.Column("updated_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("project_id", "id", name="pk_alert_rules"),
    )
    op.create_table(
        "alert_counters",
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("rule_id", sa.String(40), nullable=False),
        sa.Column("group_key", sa.String(200), nullable=False),
        sa.Column("bucket_us", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "rule_id", "group_key", "bucket_us", name="pk_alert_counters"),
    )
    op.create_table(
        "alert_groups",
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("rule_id", sa.String(40), nullable=False),
        sa.Column("group_key", sa.String(200), nullable=False),
        sa.Column("last_fired_us", sa.BigInteger(), nullable=False),
        sa.Column("open_alert_id", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("project_id", "rule_id", "group_key", name="pk_alert_groups"),
    )
    op.create_table(
        "alert_distinct",
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("rule_id", sa.String(40), nullable=False),
        sa.Column("group_key", sa.String(200), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("last_seen_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "rule_id", "group_key", "value", name="pk_alert_distinct"),
    )
    op.create_table(
        "known_fingerprints",
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("fingerprint", sa.String(200), nullable=False),
        sa.Column("first_seen_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "fingerprint", name="pk_known_fingerprints"),
    )
    op.create_table(
        "alerts",
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("rule_id", sa.String(40), nullable=False),
        sa.Column("rule_name", sa.String(100), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("state", sa.SmallInteger(), nullable=False),
        sa.Column("group_key", sa.String(200), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("event_ids", sa.Text(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("acknowledged_us", sa.BigInteger(), nullable=True),
        sa.Column("resolved_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("project_id", "id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_state", "alerts", ["project_id", "state", "id"])
    op.create_index("ix_alerts_rule", "alerts", ["project_id", "rule_id", "id"])
    op.create_table(
        "webhooks",
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("description", sa.String(100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("min_severity", sa.SmallInteger(), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("disabled_reason", sa.String(200), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "id", name="pk_webhooks"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("webhook_id", sa.String(40), nullable=False),
        sa.Column("alert_id", sa.String(40), nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.SmallInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_us", sa.BigInteger(), nullable=False),
        sa.Column("lease_until_us", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("delivered_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("project_id", "id", name="pk_webhook_deliveries"),
    )
    op.create_index("ix_webhook_deliveries_webhook", "webhook_deliveries", ["project_id", "webhook_id", "id"])
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["state", "next_attempt_us"])
    op.create_table(
        "webhook_attempts",
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("delivery_id", sa.String(40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(200), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "delivery_id", "number", name="pk_webhook_attempts"),
    )
    op.create_table(
        "monitors",
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("slug", sa.String(200), nullable=False),
        sa.Column("environment", sa.String(200), nullable=False),
        sa.Column("interval_s", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("last_status", sa.SmallInteger(), nullable=False),
        sa.Column("last_check_in_us", sa.BigInteger(), nullable=False),
        sa.Column("next_due_us", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "slug", name="pk_monitors"),
    )
    op.create_index("ix_monitors_due", "monitors", ["status", "next_due_us"])


def downgrade() -> None:
    op.drop_table("monitors")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.drop_table("alerts")
    op.drop_table("known_fingerprints")
    op.drop_table("alert_distinct")
    op.drop_table("alert_groups")
    op.drop_table("alert_counters")
    op.drop_table("alert_rules")
