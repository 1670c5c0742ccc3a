"""the customer's dashboard: its sessions, and the consent id of token-authenticated calls in the
audit log ("last used")

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 17:00:00

The audit column is nullable and hashed only when set (kaimen.audit.chain), so records written before
it keep their digests and the chain still verifies.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kaimen.store.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("idle_until", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", kaimen.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dashboard_sessions_idle_until", "dashboard_sessions", ["idle_until"])
    # ADD COLUMN is neither an UPDATE nor a DELETE: the append-only triggers (0002) allow it.
    op.add_column("audit_records", sa.Column("consent_id", sa.String(length=128), nullable=True))
    op.create_index("ix_audit_records_consent_id", "audit_records", ["consent_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_records_consent_id", table_name="audit_records")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_column("consent_id")
    op.drop_index("ix_dashboard_sessions_idle_until", table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
