"""people come and go: disabled and deleted users, token expiry and use, login backoff,
recovery codes, staff e-mail and single sign-on subjects

The hard lockout (``locked_until``) gives way to a backoff that never refuses the right
password: ``last_failed_at`` dates the account's failures, ``attack_noticed_at`` the last
warning sent about them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from custody.db import UTCDateTime

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.add_column(sa.Column("last_failed_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attack_noticed_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("disabled_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("recovery_codes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("email", sa.String(254), nullable=True))
        batch_op.add_column(sa.Column("email_verified_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sso_subject", sa.String(255), nullable=True))
        batch_op.create_unique_constraint("uq_users_sso_subject", ["sso_subject"])
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", UTCDateTime(timezone=True), nullable=True))
    # Tokens made before tokens expired get the default lifetime from today.
    tokens = sa.table("api_tokens", sa.column("expires_at", UTCDateTime(timezone=True)))
    op.execute(tokens.update().where(tokens.c.expires_at.is_(None))
               .values(expires_at=datetime.now(UTC) + timedelta(days=90)))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_sso_subject", type_="unique")
        for column in ("sso_subject", "email_verified_at", "email", "recovery_codes",
                       "totp_last_step",
                       "deleted_at", "disabled_at", "attack_noticed_at", "last_failed_at"):
            batch_op.drop_column(column)
        batch_op.add_column(sa.Column("locked_until", UTCDateTime(timezone=True), nullable=True))
