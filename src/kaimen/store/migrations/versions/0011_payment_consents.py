"""domestic payment consents and idempotency keys (UK OB v3.1.11 Payment Initiation API)

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-26 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kaimen.store.types

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domestic_payment_consents",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("initiation", sa.Text(), nullable=False),
        sa.Column("risk", sa.Text(), nullable=False),
        sa.Column("extras", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("authorise_by", kaimen.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_updated_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("debtor_account_id", sa.String(length=40), nullable=True),
        sa.Column("approved_digest", sa.String(length=64), nullable=True),
        sa.Column("step_up", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("domestic_payment_consents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_domestic_payment_consents_customer_id"), ["customer_id"], unique=False
        )
    op.create_table(
        "idempotency_keys",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "endpoint", "key"),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("domestic_payment_consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_domestic_payment_consents_customer_id"))
    op.drop_table("domestic_payment_consents")
