"""prefix preserving ips: a client may opt in to Crypto-PAn address pseudonyms in alerts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("client_policies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prefix_preserving_ips", sa.Boolean(),
                                      server_default=sa.false(), nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("client_policies", schema=None) as batch_op:
        batch_op.drop_column("prefix_preserving_ips")
