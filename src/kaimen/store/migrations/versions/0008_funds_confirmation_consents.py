"""funds-confirmation consents and funds confirmations (UK OB v3.1.11 Confirmation of Funds API)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kaimen.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "funds_confirmation_consents",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("expiration_text", sa.String(length=64), nullable=True),
        sa.Column("expires_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("debtor_scheme_name", sa.String(length=64), nullable=False),
        sa.Column("debtor_identification", sa.String(length=256), nullable=False),
        sa.Column("debtor_name", sa.String(length=350), nullable=True),
        sa.Column("debtor_secondary_identification", sa.String(length=34), nullable=True),
        sa.Column("created_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_updated_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("account_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("funds_confirmation_consents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_funds_confirmation_consents_customer_id"), ["customer_id"], unique=False
        )
    op.create_table(
        "funds_confirmations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("consent_id", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=35), nullable=False),
        sa.Column("amount_text", sa.String(length=32), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("funds_available", sa.Boolean(), nullable=False),
        sa.Column("created_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("funds_confirmations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_funds_confirmations_consent_id"), ["consent_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("funds_confirmations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_funds_confirmations_consent_id"))
    op.drop_table("funds_confirmations")
    with op.batch_alter_table("funds_confirmation_consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_funds_confirmation_consents_customer_id"))
    op.drop_table("funds_confirmation_consents")
