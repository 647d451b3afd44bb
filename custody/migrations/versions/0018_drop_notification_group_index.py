"""alerts: no index on the group alone (ix_notifications_client_group serves every read
by group, which always names the client too); one index fewer to write per stored alert

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_notifications_group_id", table_name="notifications")


def downgrade() -> None:
    op.create_index("ix_notifications_group_id", "notifications", ["group_id"])
