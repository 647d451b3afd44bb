"""a client's names version: drawn anew by the database whenever a name alert text may
mention changes (its devices' names and addresses, its users, its contacts)

Ingest keeps each client's known names in memory and reads them again only when this
number changed, instead of reading the whole inventory for every post. Each change draws a
new random number rather than adding one: a change rolled back after its names were
read must not leave a number that the next change would make again.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables whose rows carry names of a client, and the columns that hold them.
NAMED = {"devices": ("name", "host"), "users": ("username",), "contacts": ("value",)}
BUMP = "UPDATE clients SET names_version = {draw} WHERE id = {row}.client_id"
DRAW = {"postgresql": "floor(random() * 9000000000000000000)::bigint", "sqlite": "random()"}


def upgrade() -> None:
    op.add_column("clients", sa.Column("names_version", sa.BigInteger(), nullable=False,
                                       server_default="0"))
    dialect = op.get_bind().dialect.name
    old, new = (BUMP.format(row=row, draw=DRAW[dialect]) for row in ("OLD", "NEW"))
    if dialect == "postgresql":
        op.execute(f"""
            CREATE FUNCTION custody_bump_names_version() RETURNS trigger AS $$
            BEGIN
                IF TG_OP <> 'INSERT' THEN {old}; END IF;
                IF TG_OP <> 'DELETE' THEN {new}; END IF;
                RETURN NULL;
            END $$ LANGUAGE plpgsql""")
        for table, columns in NAMED.items():
            op.execute(f"""
                CREATE TRIGGER {table}_names_version
                AFTER INSERT OR DELETE OR UPDATE OF {", ".join(columns)}, client_id ON {table}
                FOR EACH ROW EXECUTE FUNCTION custody_bump_names_version()""")
        return
    for table, columns in NAMED.items():
        op.execute(f"CREATE TRIGGER {table}_names_insert AFTER INSERT ON {table} "
                   f"BEGIN {new}; END")
        op.execute(f"CREATE TRIGGER {table}_names_delete AFTER DELETE ON {table} "
                   f"BEGIN {old}; END")
        op.execute(f"CREATE TRIGGER {table}_names_update AFTER UPDATE OF "
                   f"{', '.join(columns)}, client_id ON {table} BEGIN {old}; {new}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in NAMED:
            op.execute(f"DROP TRIGGER {table}_names_version ON {table}")
        op.execute("DROP FUNCTION custody_bump_names_version()")
    else:
        for table in NAMED:
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER {table}_names_{event}")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("names_version")
