"""a purged device's name can be used again: names are unique among live devices only

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("purged_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch_op:
        batch_op.drop_constraint("uq_devices_client_id", type_="unique")
    op.create_index("uq_devices_client_live_name", "devices", ["client_id", "name"],
                    unique=True, sqlite_where=LIVE, postgresql_where=LIVE)


def downgrade() -> None:
    op.drop_index("uq_devices_client_live_name", table_name="devices")
    with op.batch_alter_table("devices") as batch_op:
        batch_op.create_unique_constraint("uq_devices_client_id", ["client_id", "name"])
