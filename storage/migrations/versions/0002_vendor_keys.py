"""Vendor key attributes: a client key's allowed origins and a vendor organization id.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("allowed_origins", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("vendor_organization", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("vendor_organization")
        batch.drop_column("allowed_origins")
