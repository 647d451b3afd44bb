"""indexes that keep ingest's reads to one alert group and one contact

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_notifications_client_group", "notifications",
                    ["client_id", "group_id", "id"])
    op.create_index("ix_outbox_notification_contact", "outbox",
                    ["notification_id", "contact_id", "state"])
    op.create_index("ix_outbox_contact_created", "outbox", ["contact_id", "created_at"])
    op.drop_index("ix_outbox_notification_id", table_name="outbox")
    op.drop_index("ix_outbox_contact_id", table_name="outbox")


def downgrade() -> None:
    op.create_index("ix_outbox_contact_id", "outbox", ["contact_id"])
    op.create_index("ix_outbox_notification_id", "outbox", ["notification_id"])
    op.drop_index("ix_outbox_contact_created", table_name="outbox")
    op.drop_index("ix_outbox_notification_contact", table_name="outbox")
    op.drop_index("ix_notifications_client_group", table_name="notifications")
