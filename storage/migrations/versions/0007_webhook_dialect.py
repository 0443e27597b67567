"""A webhook's dialect: the vendor API it was registered through, whose shape its deliveries
take (docs/vendors/logstitch.md §14).

Webhooks registered before this revision keep ingestd's own shape (""): which API made them is
not recorded anywhere else.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("dialect", sa.String(20), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("dialect")
