"""audit records: the consent index holds only records that carry a consent

Product API calls (and every other call without an access token) record no consent, yet each of them
added a NULL entry to ``ix_audit_records_consent_id`` when the audit writer flushed it. The dashboard's
"last used" and a payment's trail look records up by a consent id (``=`` and ``IN``), which both
databases answer from a partial index ``WHERE consent_id IS NOT NULL``.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_PRESENT = sa.text("consent_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_audit_records_consent_id", table_name="audit_records")
    op.create_index(
        "ix_audit_records_consent_id",
        "audit_records",
        ["consent_id"],
        sqlite_where=_PRESENT,
        postgresql_where=_PRESENT,
    )


def downgrade() -> None:
    op.drop_index("ix_audit_records_consent_id", table_name="audit_records")
    op.create_index("ix_audit_records_consent_id", "audit_records", ["consent_id"])
