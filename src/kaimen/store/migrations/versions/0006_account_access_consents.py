"""account-access consents (UK OB v3.1.11 Account and Transaction API)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 14:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kaimen.store.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_access_consents",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("expiration_text", sa.String(length=64), nullable=True),
        sa.Column("expires_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("transaction_from_text", sa.String(length=64), nullable=True),
        sa.Column("transaction_from", kaimen.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("transaction_to_text", sa.String(length=64), nullable=True),
        sa.Column("transaction_to", kaimen.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_updated_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("account_ids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("account_access_consents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_access_consents_customer_id"), ["customer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("account_access_consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_access_consents_customer_id"))
    op.drop_table("account_access_consents")
