"""``kaimen clients`` (create | show | statement), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kaimen.authz.directory import DirectoryKey
from kaimen.authz.register_statement import verify_statement
from kaimen.cli.main import cli
from kaimen.settings import load_settings
from tests.authz_clients_support import public_jwks, rsa_key


@pytest.fixture
def kaimen(database_url: str, tmp_path: Path) -> Any:
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> Result:
        base = ["--database-url", database_url, "--data-dir", str(tmp_path)]
        result = runner.invoke(cli, [*base, *args], catch_exceptions=False)
        assert (result.exit_code == 0) is ok, (result.output, result.stderr)
        return result

    return run


def test_create_and_show_a_client(kaimen: Any, tmp_path: Path) -> None:
    app = json.loads(
        kaimen(
            "tpp",
            "register",
            "--organisation",
            "Acme",
            "--name",
            "Budget",
            "--tier",
            "member",
            "--approve",
            "--json",
        ).stdout
    )
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(public_jwks(rsa_key())))
    created = json.loads(
        kaimen(
            "clients",
            "create",
            app["id"],
            "--jwks",
            str(jwks),
            "--redirect-uri",
            "http://127.0.0.1:9000/cb",
            "--json",
        ).stdout
    )
    assert created["status"] == "approved" and created["tier"] == "MEMBER"
    assert created["metadata"]["redirect_uris"] == ["http://127.0.0.1:9000/cb"]
    shown = kaimen("clients", "show", created["client_id"])
    assert shown.stdout.splitlines()[0] == f"{created['client_id']}  Budget"
    again = kaimen(
        "clients",
        "create",
        app["id"],
        "--jwks",
        str(jwks),
        "--redirect-uri",
        "https://x.example/cb",
        ok=False,
    )
    assert f"application {app['id']} already has an OAuth client" in again.output


def test_create_refuses_bad_metadata_with_the_reason(kaimen: Any, tmp_path: Path) -> None:
    app = json.loads(
        kaimen("tpp", "register", "--organisation", "A", "--name", "B", "--tier", "member", "--json").stdout
    )
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [rsa_key().as_dict(private=True)]}))
    result = kaimen(
        "clients",
        "create",
        app["id"],
        "--jwks",
        str(jwks),
        "--redirect-uri",
        "https://x.example/cb",
        ok=False,
    )
    assert "the JWKS must hold public keys only" in result.output


def test_statement_is_signed_by_the_sandbox_directory(kaimen: Any, tmp_path: Path) -> None:
    raw = kaimen(
        "clients", "statement", "--software-id", "s1", "--org-name", "Acme", "--tier", "partner"
    ).stdout.strip()
    directory = DirectoryKey.for_settings(load_settings(data_dir=tmp_path))
    verified = verify_statement(raw, directory)
    assert (verified.software_id, verified.tier.value) == ("s1", "PARTNER")
