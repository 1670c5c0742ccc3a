"""tokens are found by their consent when the consent ends

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 14:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tokens_consent_id", "tokens", ["consent_id"])


def downgrade() -> None:
    op.drop_index("ix_tokens_consent_id", table_name="tokens")
