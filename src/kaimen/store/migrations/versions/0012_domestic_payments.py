"""domestic payments (UK OB v3.1.11 Payment Initiation API, POST /domestic-payments)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kaimen.store.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domestic_payments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("consent_id", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("debtor_account_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("initiation", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_updated_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("transaction_id", sa.String(length=40), nullable=True),
        sa.Column("status_reason", sa.String(length=32), nullable=True),
        sa.Column("status_reason_description", sa.String(length=256), nullable=True),
        sa.Column("risk_outcome", sa.String(length=16), nullable=False),
        sa.Column("risk_reasons", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("consent_id"),
    )
    with op.batch_alter_table("domestic_payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_domestic_payments_customer_id"), ["customer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("domestic_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_domestic_payments_customer_id"))
    op.drop_table("domestic_payments")
