"""``kaimen risk deny-payee add | remove | list`` and ``kaimen risk decisions`` (issue 5, item 4), on
SQLite and PostgreSQL: the deny list the engine reads, and a decision's reasons for the operator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kaimen.cli.main import cli
from kaimen.risk.decision import Outcome
from kaimen.risk.engine import RiskEngine
from kaimen.risk.facts import History
from kaimen.risk.store import RiskStore
from kaimen.risk.velocity import MemoryVelocity
from kaimen.settings import load_settings
from kaimen.store.db import Database
from tests.risk_support import NOON, PAYEE, SCHEME, consent


@pytest.fixture
def kaimen(database_url: str, tmp_path: Path) -> Any:
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(
            cli,
            ["--data-dir", str(tmp_path), "--database-url", database_url, "risk", *args],
            catch_exceptions=False,
        )
        assert (result.exit_code == 0) is ok, (result.output, result.stderr)
        return result

    return run


class NoHistory:
    async def history(self, customer_id: str, currency: str, at: Any) -> History:
        return History((), frozenset())


def _assess(database_url: str, tmp_path: Path, **fields: Any) -> Outcome:
    """One consent assessed in-process against the database the CLI uses."""
    settings = load_settings(data_dir=tmp_path, database_url=database_url)

    async def run() -> Outcome:
        db = Database(settings.sqlalchemy_url)
        engine = RiskEngine(
            settings.risk, history=NoHistory(), velocity=MemoryVelocity(), store=RiskStore(db)
        )
        try:
            return (await engine.assess_consent(consent(**fields))).outcome
        finally:
            await engine.close()
            await db.dispose()

    return asyncio.run(run())


def test_deny_payee_add_list_remove(kaimen: Any, database_url: str, tmp_path: Path) -> None:
    added = kaimen("deny-payee", "add", SCHEME, "40-12-76 8765 4321", "--reason", "mule account")
    assert added.output == f"{SCHEME} 40-12-76 8765 4321 added to the deny list\n"
    again = kaimen("deny-payee", "add", SCHEME, PAYEE, "--reason", "mule account, confirmed")
    assert again.output == f"{SCHEME} {PAYEE} already on the deny list\n"
    listed = json.loads(kaimen("deny-payee", "list", "--json").output)
    assert [(e["scheme"], e["identification"], e["reason"]) for e in listed] == [
        (SCHEME, PAYEE, "mule account, confirmed")
    ]
    assert kaimen("deny-payee", "list").output.startswith(f"{SCHEME}  {PAYEE}  ")
    assert _assess(database_url, tmp_path, creditor_identification=PAYEE) is Outcome.REJECT

    removed = kaimen("deny-payee", "remove", SCHEME, PAYEE)
    assert removed.output == f"{SCHEME} {PAYEE} removed from the deny list\n"
    missing = kaimen("deny-payee", "remove", SCHEME, PAYEE, ok=False)
    assert missing.exit_code == 1
    assert f"{SCHEME} {PAYEE} is not on the deny list" in missing.output
    assert json.loads(kaimen("deny-payee", "list", "--json").output) == []
    assert _assess(database_url, tmp_path, creditor_identification=PAYEE) is Outcome.ALLOW


def test_decisions_show_each_reason_with_its_score(kaimen: Any, database_url: str, tmp_path: Path) -> None:
    kaimen("deny-payee", "add", SCHEME, PAYEE, "--reason", "mule")
    _assess(database_url, tmp_path, subject_id="pcon_42", creditor_identification=PAYEE)
    lines = kaimen("decisions", "pcon_42").output.splitlines()
    assert lines[0].endswith(
        "2026-11-26 14:00:00Z  consent  reject  score 120  client client_a  customer cus_alice"
    )
    assert lines[1:] == [
        f"  +100  denied_payee: payee {SCHEME} {PAYEE} is on the deny list (mule)",
        "  +20  new_payee: first payment by this customer to this payee",
    ]
    [shown] = json.loads(kaimen("decisions", "pcon_42", "--json").output)
    assert (shown["outcome"], shown["score"], shown["decided_at"]) == ("reject", 120, NOON.isoformat())
    assert [reason["rule"] for reason in shown["reasons"]] == ["denied_payee", "new_payee"]
    unknown = kaimen("decisions", "pcon_unknown", ok=False)
    assert "no risk decision recorded for pcon_unknown" in unknown.output
