"""ledger entries: a version that the database moves on every UPDATE of the row

``kaimen.ledger.entry_pages`` reads a page's entry ids and versions first and builds records only for
entries it has not seen at that version, so the version must change whenever any column does, whoever
changes it: a trigger does it, not the application. SQLite: an AFTER UPDATE trigger sets the new version
unless the statement already changed it (recursive triggers are off, and the WHEN stops the second
round anyway). PostgreSQL: a BEFORE UPDATE row trigger sets it on the row being written.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_SQLITE_UP = [
    """CREATE TRIGGER ledger_entries_version AFTER UPDATE ON ledger_entries
        FOR EACH ROW WHEN NEW.version = OLD.version
        BEGIN UPDATE ledger_entries SET version = OLD.version + 1 WHERE id = OLD.id; END""",
]
_SQLITE_DOWN = ["DROP TRIGGER IF EXISTS ledger_entries_version"]
_POSTGRES_UP = [
    """CREATE FUNCTION kaimen_ledger_entry_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.version := OLD.version + 1; RETURN NEW; END $$""",
    """CREATE TRIGGER ledger_entries_version BEFORE UPDATE ON ledger_entries
        FOR EACH ROW EXECUTE FUNCTION kaimen_ledger_entry_version()""",
]
_POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS ledger_entries_version ON ledger_entries",
    "DROP FUNCTION IF EXISTS kaimen_ledger_entry_version()",
]


def _run(statements: dict[str, list[str]]) -> None:
    for statement in statements[op.get_bind().dialect.name]:
        op.execute(statement)


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False))
    _run({"sqlite": _SQLITE_UP, "postgresql": _POSTGRES_UP})


def downgrade() -> None:
    _run({"sqlite": _SQLITE_DOWN, "postgresql": _POSTGRES_DOWN})
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_column("version")
