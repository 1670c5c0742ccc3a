"""ledger entries: the page index ends with seq, so a page of one account is read in index order

``SandboxLedger.transactions`` orders an account's entries by ``booked_at DESC, seq DESC``. With
(account_id, booked_at) SQLite sorted each run of entries booked at the same moment in a temporary
B-tree, and PostgreSQL sorted every entry of the account to keep the top page; with seq in the index
both walk it backwards and stop after the page.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 01:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_entries_account_booked_seq", ["account_id", "booked_at", "seq"], unique=False
        )
        batch_op.drop_index("ix_ledger_entries_account_booked")


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_account_booked", ["account_id", "booked_at"], unique=False)
        batch_op.drop_index("ix_ledger_entries_account_booked_seq")
