"""passkeys: the backup eligibility (BE flag) each credential was registered with

WebAuthn Level 3 keeps the BE flag in the credential record (``backupEligible``) and, when verifying an
assertion, compares the assertion's BE with it (§7.2). Rows that exist before this revision were
registered without it being kept, and their registration responses are gone, so it cannot be
recovered: they are left NULL ("not known yet"), and the first assertion of such a passkey records the
BE it carries (kaimen.identity.passkeys). That is the value registration would have stored, under the
same trust: the flag sits in authenticator data the credential's own key signs. Any fixed backfill
would be a guess: ``false`` refuses every synced passkey, ``true`` every device-bound one, from then on
and for good, while NULL refuses nothing that worked before and enforces the flag from the next use.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("passkeys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("backup_eligible", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("passkeys", schema=None) as batch_op:
        batch_op.drop_column("backup_eligible")
