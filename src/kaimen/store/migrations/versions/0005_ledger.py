"""sandbox ledger: parties, accounts, postings and their entries

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kaimen.store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_parties",
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("party_id", sa.String(length=40), nullable=False),
        sa.Column("party_type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=350), nullable=False),
        sa.Column("full_legal_name", sa.String(length=350), nullable=False),
        sa.Column("email", sa.String(length=256), nullable=True),
        sa.Column("mobile", sa.String(length=32), nullable=True),
        sa.Column("building_number", sa.String(length=16), nullable=True),
        sa.Column("street_name", sa.String(length=70), nullable=True),
        sa.Column("town_name", sa.String(length=35), nullable=True),
        sa.Column("post_code", sa.String(length=16), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
        sa.UniqueConstraint("party_id"),
    )

    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("identification", sa.String(length=14), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("account_type", sa.String(length=16), nullable=False),
        sa.Column("account_subtype", sa.String(length=16), nullable=False),
        sa.Column("nickname", sa.String(length=70), nullable=True),
        sa.Column("product_id", sa.String(length=40), nullable=True),
        sa.Column("credit_limit", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opening_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("identification"),
    )
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_accounts_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "ledger_postings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("posting_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("booked_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("value_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=True),
        sa.Column("transaction_reference", sa.String(length=210), nullable=True),
        sa.Column("information", sa.String(length=500), nullable=False),
        sa.Column("btc_code", sa.String(length=35), nullable=True),
        sa.Column("btc_sub_code", sa.String(length=35), nullable=True),
        sa.Column("proprietary_code", sa.String(length=35), nullable=True),
        sa.Column("merchant_name", sa.String(length=350), nullable=True),
        sa.Column("merchant_category_code", sa.String(length=4), nullable=True),
        sa.Column("counterparty_scheme", sa.String(length=40), nullable=True),
        sa.Column("counterparty_identification", sa.String(length=256), nullable=True),
        sa.Column("counterparty_name", sa.String(length=350), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["ledger_accounts.id"]),
        sa.ForeignKeyConstraint(["posting_id"], ["ledger_postings.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "seq", name="uq_ledger_entries_account_seq"),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_account_booked", ["account_id", "booked_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_posting_id"), ["posting_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_posting_id"))
        batch_op.drop_index("ix_ledger_entries_account_booked")
    op.drop_table("ledger_entries")
    op.drop_table("ledger_postings")
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_accounts_customer_id"))
    op.drop_table("ledger_accounts")
    op.drop_table("ledger_parties")
