"""audit_records is append-only: the database refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 11:05:00

The hash chain detects tampering; these triggers stop it by mistake or by the application's own
database role. Someone who can drop a trigger can still tamper, and ``kaimen audit verify`` catches it.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_MESSAGE = "audit_records is append-only"

_SQLITE_UP = [
    f"""CREATE TRIGGER audit_records_no_{verb.lower()} BEFORE {verb} ON audit_records
        BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"""
    for verb in ("UPDATE", "DELETE")
]
_SQLITE_DOWN = [f"DROP TRIGGER IF EXISTS audit_records_no_{verb}" for verb in ("update", "delete")]

# TRUNCATE skips row triggers on PostgreSQL, so it needs its own statement-level one.
_POSTGRES_UP = [
    f"""CREATE FUNCTION kaimen_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = 'insufficient_privilege'; END $$""",
    """CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
        FOR EACH ROW EXECUTE FUNCTION kaimen_audit_append_only()""",
    """CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
        FOR EACH ROW EXECUTE FUNCTION kaimen_audit_append_only()""",
    """CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
        FOR EACH STATEMENT EXECUTE FUNCTION kaimen_audit_append_only()""",
]
_POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS audit_records_no_truncate ON audit_records",
    "DROP TRIGGER IF EXISTS audit_records_no_delete ON audit_records",
    "DROP TRIGGER IF EXISTS audit_records_no_update ON audit_records",
    "DROP FUNCTION IF EXISTS kaimen_audit_append_only()",
]


def _run(statements: dict[str, list[str]]) -> None:
    for statement in statements[op.get_bind().dialect.name]:
        op.execute(statement)


def upgrade() -> None:
    _run({"sqlite": _SQLITE_UP, "postgresql": _POSTGRES_UP})


def downgrade() -> None:
    _run({"sqlite": _SQLITE_DOWN, "postgresql": _POSTGRES_DOWN})
