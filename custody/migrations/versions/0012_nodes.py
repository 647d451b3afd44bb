"""nodes of one installation, their CA, and which node holds each session and egress address

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from custody.db import UTCDateTime

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("join_token_hash", sa.String(length=64), nullable=True),
        sa.Column("join_expires_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("cert_serial", sa.String(length=64), nullable=True),
        sa.Column("cert_not_after", UTCDateTime(timezone=True), nullable=True),
        sa.Column("instance", sa.String(length=32), nullable=True),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("removed_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
        sa.UniqueConstraint("name", name=op.f("uq_nodes_name")),
        sa.UniqueConstraint("join_token_hash", name=op.f("uq_nodes_join_token_hash")),
    )
    op.create_table(
        "node_authority",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cert_pem", sa.Text(), nullable=False),
        sa.Column("key_ref", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_authority")),
    )
    with op.batch_alter_table("access_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("node", sa.String(length=63), nullable=True))
        batch_op.create_index(batch_op.f("ix_access_sessions_node"), ["node"], unique=False)
    with op.batch_alter_table("egress_profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("node", sa.String(length=63), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("egress_profiles", schema=None) as batch_op:
        batch_op.drop_column("node")
    with op.batch_alter_table("access_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_sessions_node"))
        batch_op.drop_column("node")
    op.drop_table("node_authority")
    op.drop_table("nodes")
