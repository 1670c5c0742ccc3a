"""ledger accounts: a version of their entries, moved by the database on every change to them

``kaimen.ledger.entry_pages`` keeps the pages it built under the versions of the accounts they list, so
the version must move whenever an entry of the account is inserted, updated or deleted, whoever does
it: triggers on ``ledger_entries`` do it, in the same transaction as the change. An entry moved to
another account moves both accounts' versions. Only customer accounts have one (pages are read for a
customer's own accounts only): the bank's internal accounts take an entry in most postings, and
moving a version there would make every posting on PostgreSQL wait for that one row's lock. The
customer accounts a posting touches are locked in id order before its entries are written
(kaimen.ledger.posting), so these updates add no lock order of their own. On SQLite an UPDATE of an
entry moves the version twice (migration 0016's trigger updates the row again): only a change of the
number matters, never its size.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_SQLITE_UP = [
    """CREATE TRIGGER ledger_entries_insert_moves_account AFTER INSERT ON ledger_entries
        BEGIN UPDATE ledger_accounts SET entries_version = entries_version + 1 WHERE id = NEW.account_id
            AND customer_id IS NOT NULL;
        END""",
    """CREATE TRIGGER ledger_entries_update_moves_account AFTER UPDATE ON ledger_entries
        BEGIN UPDATE ledger_accounts SET entries_version = entries_version + 1 WHERE id = OLD.account_id
            AND customer_id IS NOT NULL;
        UPDATE ledger_accounts SET entries_version = entries_version + 1
            WHERE id = NEW.account_id AND NEW.account_id IS NOT OLD.account_id
            AND customer_id IS NOT NULL;
        END""",
    """CREATE TRIGGER ledger_entries_delete_moves_account AFTER DELETE ON ledger_entries
        BEGIN UPDATE ledger_accounts SET entries_version = entries_version + 1 WHERE id = OLD.account_id
            AND customer_id IS NOT NULL;
        END""",
]
_SQLITE_DOWN = [
    f"DROP TRIGGER IF EXISTS ledger_entries_{verb}_moves_account" for verb in ("insert", "update", "delete")
]
_POSTGRES_UP = [
    """CREATE FUNCTION kaimen_ledger_entries_move_account() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                UPDATE ledger_accounts SET entries_version = entries_version + 1 WHERE id = OLD.account_id
            AND customer_id IS NOT NULL;
            END IF;
            IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.account_id IS DISTINCT FROM OLD.account_id) THEN
                UPDATE ledger_accounts SET entries_version = entries_version + 1 WHERE id = NEW.account_id
            AND customer_id IS NOT NULL;
            END IF;
            RETURN NULL;
        END $$""",
    """CREATE TRIGGER ledger_entries_move_account AFTER INSERT OR UPDATE OR DELETE ON ledger_entries
        FOR EACH ROW EXECUTE FUNCTION kaimen_ledger_entries_move_account()""",
]
_POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS ledger_entries_move_account ON ledger_entries",
    "DROP FUNCTION IF EXISTS kaimen_ledger_entries_move_account()",
]


def _run(statements: dict[str, list[str]]) -> None:
    for statement in statements[op.get_bind().dialect.name]:
        op.execute(statement)


def upgrade() -> None:
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("entries_version", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    _run({"sqlite": _SQLITE_UP, "postgresql": _POSTGRES_UP})


def downgrade() -> None:
    _run({"sqlite": _SQLITE_DOWN, "postgresql": _POSTGRES_DOWN})
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_column("entries_version")
