"""privileged sessions, allow-list command policies with approvals, credential rotation

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import custody.db

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("access_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("privileged", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table("client_policies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("privileged_role", sa.String(length=16), nullable=False,
                                      server_default="technician"))
        batch_op.add_column(sa.Column("allow_commands", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("unlisted_action", sa.String(length=16), nullable=False,
                                      server_default="refuse"))
        batch_op.add_column(sa.Column("rotate_after_privileged", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("rotate_every_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rotated_at", custody.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rotating_since", custody.db.UTCDateTime(timezone=True),
                                      nullable=True))
    op.create_table(
        "command_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_at", custody.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", custody.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", custody.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["access_sessions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_command_approvals_state", "command_approvals", ["state"])
    op.create_index("ix_command_approvals_session_id", "command_approvals", ["session_id"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_command_approvals_session_id", table_name="command_approvals")
    op.drop_index("ix_command_approvals_state", table_name="command_approvals")
    op.drop_table("command_approvals")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("rotating_since")
        batch_op.drop_column("rotated_at")
    with op.batch_alter_table("client_policies", schema=None) as batch_op:
        for name in ("rotate_every_days", "rotate_after_privileged", "unlisted_action",
                     "allow_commands", "privileged_role"):
            batch_op.drop_column(name)
    with op.batch_alter_table("access_sessions", schema=None) as batch_op:
        batch_op.drop_column("privileged")
