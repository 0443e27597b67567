"""Open timing starts: SimpleLogs starts waiting for the end that a later request sends.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "open_timing_starts",
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("correlation_key", sa.String(200), nullable=True),
        sa.Column("touchpoint", sa.String(200), nullable=True),
        sa.Column("started_us", sa.BigInteger(), nullable=False),
        sa.Column("opened_us", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "id", name="pk_open_timing_starts"),
    )
    not_null = {
        "correlation_key": sa.text("correlation_key IS NOT NULL"),
        "touchpoint": sa.text("touchpoint IS NOT NULL"),
    }
    op.create_index(
        "ix_open_timing_starts_key",
        "open_timing_starts",
        ["project_id", "correlation_key", "id"],
        sqlite_where=not_null["correlation_key"],
        postgresql_where=not_null["correlation_key"],
    )
    op.create_index(
        "ix_open_timing_starts_touchpoint",
        "open_timing_starts",
        ["project_id", "touchpoint", "id"],
        sqlite_where=not_null["touchpoint"],
        postgresql_where=not_null["touchpoint"],
    )
    op.create_index("ix_open_timing_starts_opened", "open_timing_starts", ["opened_us"])


def downgrade() -> None:
    op.drop_table("open_timing_starts")
