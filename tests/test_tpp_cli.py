"""``kaimen tpp`` (issue 2, item 3: register | list | show | approve | suspend | revoke, keys create |
list | revoke), on SQLite and PostgreSQL: human output, --json, clear errors and non-zero exits."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kaimen.cli.main import cli

KEY = re.compile(r"kmn_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")
WARNING = "Store this API key now: it is shown only once and cannot be retrieved again."


@pytest.fixture
def kaimen(database_url: str) -> Any:
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(cli, ["--database-url", database_url, "tpp", *args], catch_exceptions=False)
        assert (result.exit_code == 0) is ok, (result.output, result.stderr)
        return result

    return run


def _register(kaimen: Any, *extra: str) -> dict[str, Any]:
    result = kaimen(
        "register",
        "--organisation",
        "Acme Ltd",
        "--name",
        "Acme Budget",
        "--tier",
        "member",
        "--contact",
        "technical:Jo Bloggs:jo@acme.example",
        *extra,
        "--json",
    )
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def test_register_show_and_list(kaimen: Any) -> None:
    app = _register(kaimen)
    assert app["status"] == "pending"
    assert app["tier"] == "MEMBER"
    assert app["organisation_name"] == "Acme Ltd"
    assert app["contacts"] == [{"role": "technical", "name": "Jo Bloggs", "email": "jo@acme.example"}]

    shown = kaimen("show", app["id"])
    assert shown.stdout.splitlines()[:4] == [
        f"{app['id']}  Acme Budget",
        f"  organisation  Acme Ltd ({app['organisation_id']})",
        "  status        pending",
        "  tier          MEMBER",
    ]
    assert "  contact       technical: Jo Bloggs <jo@acme.example>" in shown.stdout
    assert json.loads(kaimen("show", app["id"], "--json").stdout) == app

    listed = kaimen("list")
    assert listed.stdout == f"{app['id']}  pending    MEMBER        Acme Ltd / Acme Budget\n"
    assert [a["id"] for a in json.loads(kaimen("list", "--json").stdout)] == [app["id"]]


def test_empty_list(kaimen: Any) -> None:
    assert kaimen("list").stdout == "no applications registered\n"
    assert json.loads(kaimen("list", "--json").stdout) == []


def test_register_with_approve(kaimen: Any) -> None:
    assert _register(kaimen, "--approve")["status"] == "approved"


def test_review_commands_and_revoked_is_final(kaimen: Any) -> None:
    app_id = _register(kaimen)["id"]
    assert json.loads(kaimen("approve", app_id, "--json").stdout)["status"] == "approved"
    assert "  status        suspended" in kaimen("suspend", app_id).stdout
    assert "  status        revoked" in kaimen("revoke", app_id).stdout
    refused = kaimen("approve", app_id, ok=False)
    assert refused.exit_code == 1
    assert (
        refused.stderr == f"Error: application {app_id} is revoked, which is final: cannot make it approved\n"
    )


def test_keys_create_list_revoke(kaimen: Any) -> None:
    app_id = _register(kaimen, "--approve")["id"]
    created = kaimen("keys", "create", app_id, "--label", "ci")
    api_key = created.stdout.splitlines()[1]
    assert KEY.fullmatch(api_key)
    assert created.stderr == WARNING + "\n"

    issued = json.loads(kaimen("keys", "create", app_id, "--json").stdout)
    assert KEY.fullmatch(issued["api_key"]) and issued["warning"] == WARNING
    assert issued["key"]["application_id"] == app_id

    listed = kaimen("keys", "list", app_id)
    assert api_key not in listed.stdout and issued["api_key"] not in listed.stdout  # shown once
    assert f"kmn_{api_key[4:20]}_…" in listed.stdout and "active  ci" in listed.stdout
    keys = json.loads(kaimen("keys", "list", app_id, "--json").stdout)
    assert [k["label"] for k in keys] == ["ci", ""]

    revoked = json.loads(kaimen("keys", "revoke", keys[0]["id"], "--json").stdout)
    assert revoked["id"] == keys[0]["id"] and revoked["revoked_at"] is not None
    again = kaimen("keys", "revoke", keys[0]["id"], ok=False)
    assert again.stderr.startswith(f"Error: API key {keys[0]['id']} was already revoked at ")


def test_no_keys_yet(kaimen: Any) -> None:
    app_id = _register(kaimen)["id"]
    assert kaimen("keys", "list", app_id).stdout == f"application {app_id} has no API keys\n"


def test_unknown_ids_are_errors(kaimen: Any) -> None:
    for args in (
        ("show", "app_x"),
        ("approve", "app_x"),
        ("keys", "create", "app_x"),
        ("keys", "list", "app_x"),
    ):
        result = kaimen(*args, ok=False)
        assert result.exit_code == 1
        assert result.stderr == "Error: no application with id 'app_x'\n"
    assert kaimen("keys", "revoke", "key_x", ok=False).stderr == "Error: no API key with id 'key_x'\n"


def test_bad_input_is_refused_before_anything_is_stored(kaimen: Any) -> None:
    bad_contact = kaimen(
        "register", "--organisation", "A", "--name", "B", "--tier", "PUBLIC", "--contact", "x", ok=False
    )
    assert bad_contact.exit_code == 2
    assert "Invalid value for '--contact': 'x': expected role:name:email" in bad_contact.stderr
    bad_tier = kaimen("register", "--organisation", "A", "--name", "B", "--tier", "GOLD", ok=False)
    assert bad_tier.exit_code == 2
    assert "Invalid value for '--tier'" in bad_tier.stderr
    bad_role = kaimen(
        "register",
        "--organisation",
        "A",
        "--name",
        "B",
        "--tier",
        "PUBLIC",
        "--contact",
        "boss:X:x@a.example",
        ok=False,
    )
    assert bad_role.stderr == "Error: contact role must be one of business, technical, security, not 'boss'\n"
    assert json.loads(kaimen("list", "--json").stdout) == []
