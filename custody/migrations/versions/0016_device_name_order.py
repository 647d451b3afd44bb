"""device lists a page at a time, by name: an index in that order

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_devices_name_id", "devices", ["name", "id"])


def downgrade() -> None:
    op.drop_index("ix_devices_name_id", table_name="devices")
