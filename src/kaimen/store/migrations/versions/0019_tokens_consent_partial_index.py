"""tokens: the consent index holds only tokens issued under a consent

A TPP's ``client_credentials`` tokens carry no consent, yet each added a NULL entry to
``ix_tokens_consent_id`` when it was issued. The index serves the revocation of a consent's tokens and
a payment's trail, which look tokens up by a consent id (``=``): both databases answer that from a
partial index ``WHERE consent_id IS NOT NULL`` (an equality implies the column is not NULL).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27 05:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_PRESENT = sa.text("consent_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_tokens_consent_id", table_name="tokens")
    op.create_index(
        "ix_tokens_consent_id", "tokens", ["consent_id"], sqlite_where=_PRESENT, postgresql_where=_PRESENT
    )


def downgrade() -> None:
    op.drop_index("ix_tokens_consent_id", table_name="tokens")
    op.create_index("ix_tokens_consent_id", "tokens", ["consent_id"])
