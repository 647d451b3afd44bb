"""the audit chain's head row exists from the start

Two first appenders on an empty database would both insert it; with the row made here,
every appender only ever locks it with its UPDATE.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64


def upgrade() -> None:
    """Insert the head row (id 1) unless the chain has one already."""
    head = sa.table("audit_head", sa.column("id", sa.Integer), sa.column("last_id", sa.Integer),
                    sa.column("last_hash", sa.String), sa.column("count", sa.Integer))
    if op.get_bind().execute(sa.select(head.c.id).where(head.c.id == 1)).first() is None:
        op.bulk_insert(head, [{"id": 1, "last_id": 0, "last_hash": GENESIS, "count": 0}])


def downgrade() -> None:
    """Nothing to undo: a head row of an empty chain is what the first append made."""
