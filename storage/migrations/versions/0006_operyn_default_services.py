"""Operyn's default organization: the services that requests without `x-organization-id` named,
which its service limit counts (docs/vendors/operyn.md §5).

Nothing is copied from `events`: a stored event does not say whether its request named an
organization, and counting every stored service would repeat the miscount this table ends. Each
project's default organization fills its places again from its next requests.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operyn_default_services",
        sa.Column("project_id", sa.String(63), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "service", name="pk_operyn_default_services"),
    )


def downgrade() -> None:
    op.drop_table("operyn_default_services")
