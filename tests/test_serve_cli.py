"""``kaimen serve`` hands granian what the settings say (issue 6, item 1): its options are validated
with the settings they override, the workers get the same values, TLS reaches granian, and a plain
HTTP server with an https public URL and no trusted proxy is warned about. granian itself is replaced
by a recorder here; tests/test_serve_tls.py runs the real one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kaimen import server
from kaimen.cli.main import cli
from tests.tls_support import Pem, self_signed

WARNING = "plain HTTP with no KAIMEN_TRUSTED_PROXIES"


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> list[dict[str, Any]]:
    # sqlite_url: the data dir (tmp_path) holds a migrated database, as `kaimen serve` requires. The
    # recorder binds nothing, so the ports these tests name need not be free (test_cli_errors checks it).
    monkeypatch.setattr(server, "bind_problem", lambda host, port: None)
    recorded: list[dict[str, Any]] = []
    monkeypatch.setattr(server, "run", lambda **kwargs: recorded.append(kwargs))
    return recorded


def serve(tmp_path: Path, *args: str, **env: str) -> Result:
    return CliRunner().invoke(cli, ["serve", *args], env={"KAIMEN_DATA_DIR": str(tmp_path), **env})


def test_tls_options_reach_granian_and_the_workers(
    tmp_path: Path, runs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    pem: Pem = self_signed(tmp_path / "tls", "kaimen")
    monkeypatch.chdir(pem.certificate.parent)  # relative paths are resolved before the workers see them
    result = serve(
        tmp_path,
        "--port",
        "8443",
        "--tls-certificate",
        pem.certificate.name,
        "--tls-private-key",
        pem.private_key.name,
        KAIMEN_PUBLIC_BASE_URL="https://bank.example",
    )
    assert result.exit_code == 0, result.output
    [run] = runs
    assert run["tls"] == server.Tls(pem.certificate, pem.private_key)
    assert run["env"]["KAIMEN_TLS_CERTIFICATE"] == str(pem.certificate)
    assert run["env"]["KAIMEN_TLS_PRIVATE_KEY"] == str(pem.private_key)
    assert (run["port"], run["env"]["KAIMEN_PORT"]) == (8443, "8443")
    assert WARNING not in result.output


def test_plain_http_behind_an_unnamed_proxy_is_warned_about(
    tmp_path: Path, runs: list[dict[str, Any]]
) -> None:
    result = serve(tmp_path, KAIMEN_PUBLIC_BASE_URL="https://bank.example")
    assert result.exit_code == 0, result.output
    assert WARNING in result.output
    assert runs[0]["tls"] is None
    # Named proxies, or a plain http sandbox URL: nothing to warn about.
    trusted = serve(
        tmp_path, KAIMEN_PUBLIC_BASE_URL="https://bank.example", KAIMEN_TRUSTED_PROXIES='["10.0.0.10/32"]'
    )
    assert trusted.exit_code == 0 and WARNING not in trusted.output
    sandbox = serve(tmp_path)
    assert sandbox.exit_code == 0 and WARNING not in sandbox.output


def test_the_workers_option_is_validated_like_the_setting(tmp_path: Path, runs: list[dict[str, Any]]) -> None:
    # Without Redis, rate limits and replay caches live in one process: more workers are refused.
    result = serve(tmp_path, "--workers", "2")
    assert result.exit_code == 1
    assert "KAIMEN_WORKERS above 1 needs KAIMEN_REDIS_URL" in result.output
    assert runs == []
    ok = serve(tmp_path, "--workers", "2", KAIMEN_REDIS_URL="redis://127.0.0.1:6379/0")
    assert ok.exit_code == 0, ok.output
    assert (runs[0]["workers"], runs[0]["env"]["KAIMEN_WORKERS"]) == (2, "2")
