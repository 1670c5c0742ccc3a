"""``kaimen customers create | list | unlock`` (issue 3, item 5), on SQLite and PostgreSQL: the TOTP
secret is printed once and works, list shows locks, unlock clears the lock and the counters."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kaimen.authz.sealing import sealer_for
from kaimen.cli.main import cli
from kaimen.identity import totp
from kaimen.identity.customers import Customers, LoginRefused
from kaimen.settings import load_settings
from kaimen.store.db import Database


@pytest.fixture
def kaimen(database_url: str, tmp_path: Path) -> Any:
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(
            cli,
            ["--data-dir", str(tmp_path), "--database-url", database_url, "customers", *args],
            catch_exceptions=False,
        )
        assert (result.exit_code == 0) is ok, (result.output, result.stderr)
        return result

    return run


def _with_customers(database_url: str, tmp_path: Path, work: Any) -> Any:
    """Run ``work(customers)`` in-process against the same database and data dir as the CLI."""
    settings = load_settings(data_dir=tmp_path, database_url=database_url, oauth={"max_login_failures": 2})

    async def run() -> Any:
        db = Database(settings.sqlalchemy_url)
        customers = Customers(db, sealer_for(settings), settings)
        try:
            return await work(customers)
        finally:
            await customers.close()
            await db.dispose()

    return asyncio.run(run())


def test_create_prints_a_working_totp_secret_once(kaimen: Any, database_url: str, tmp_path: Path) -> None:
    created = kaimen("create", "alice", "--password", "s3cret pass", "--display-name", "Alice Chen")
    match = re.search(r"totp secret  ([A-Z2-7]{32})", created.stdout)
    assert match, created.stdout
    assert "shown only once" in created.stderr
    secret = match.group(1)

    async def check(customers: Customers) -> tuple[str, bool]:
        customer_id = await customers.verify_password("alice", "s3cret pass", "127.0.0.1")
        return customer_id, await customers.verify_totp(
            customer_id, totp.code_at(secret, totp.current_step())
        )

    customer_id, code_ok = _with_customers(database_url, tmp_path, check)
    assert created.stdout.startswith(customer_id) and code_ok
    listed = kaimen("list")
    assert "alice  (Alice Chen)" in listed.stdout and secret not in listed.stdout


def test_create_json_and_a_taken_username(kaimen: Any) -> None:
    body = json.loads(kaimen("create", "bob", "--password", "pw", "--json").stdout)
    assert set(body) == {"id", "username", "totp_secret"} and body["username"] == "bob"
    refused = kaimen("create", "bob", "--password", "pw", ok=False)
    assert "username 'bob' is taken" in refused.stderr


def test_unlock_clears_the_lock(kaimen: Any, database_url: str, tmp_path: Path) -> None:
    kaimen("create", "alice", "--password", "right")

    async def fail_twice(customers: Customers) -> str:
        for _ in range(2):
            try:
                await customers.verify_password("alice", "wrong", "127.0.0.1")
            except LoginRefused as refusal:
                reason = refusal.reason
        return reason

    assert _with_customers(database_url, tmp_path, fail_twice) == "locked"
    [row] = json.loads(kaimen("list", "--json").stdout)
    assert row["locks"] == 1 and row["locked_until"] is not None
    assert kaimen("unlock", "alice").stdout.strip() == "alice unlocked"
    [row] = json.loads(kaimen("list", "--json").stdout)
    assert (row["failed_logins"], row["locks"], row["locked_until"]) == (0, 0, None)

    async def log_in(customers: Customers) -> str:
        return await customers.verify_password("alice", "right", "127.0.0.1")

    assert _with_customers(database_url, tmp_path, log_in).startswith("cus_")


def test_unlock_of_an_unknown_customer_fails(kaimen: Any) -> None:
    assert "no customer named 'nobody'" in kaimen("unlock", "nobody", ok=False).stderr
