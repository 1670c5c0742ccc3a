"""the risk engine: decisions with their reasons, the payee deny list, velocity events (PostgreSQL
without Redis)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kaimen.store.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_decisions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=128), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("customer_ip", sa.String(length=64), nullable=True),
        sa.Column("device_digest", sa.String(length=64), nullable=True),
        sa.Column("decided_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_risk_decisions_customer_id_decided_at", ["customer_id", "decided_at"])
        batch_op.create_index(batch_op.f("ix_risk_decisions_subject_id"), ["subject_id"], unique=False)
    op.create_table(
        "risk_denied_payees",
        sa.Column("scheme", sa.String(length=64), nullable=False),
        sa.Column("identification", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("added_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scheme", "identification"),
    )
    op.create_table(
        "risk_velocity_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("risk_velocity_events", schema=None) as batch_op:
        batch_op.create_index("ix_risk_velocity_events_key_at", ["key", "at"])


def downgrade() -> None:
    with op.batch_alter_table("risk_velocity_events", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_velocity_events_key_at")
    op.drop_table("risk_velocity_events")
    op.drop_table("risk_denied_payees")
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_decisions_subject_id"))
        batch_op.drop_index("ix_risk_decisions_customer_id_decided_at")
    op.drop_table("risk_decisions")
