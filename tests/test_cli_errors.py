"""Ordinary operational mistakes end a command with one line saying what is wrong and exit status 1,
never a traceback (README, configuration reference): a database that cannot be reached or opened
(named without its password), ``kaimen serve`` on a database that was never migrated, and a data dir
whose sealed keys were made with another KAIMEN_SECRET_KEY."""

from __future__ import annotations

import re
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kaimen import server
from kaimen.cli.main import cli


def kaimen(*args: str, **env: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """granian replaced by a recorder: a command that reaches it would have served."""
    recorded: list[dict[str, Any]] = []
    monkeypatch.setattr(server, "run", lambda **kwargs: recorded.append(kwargs))
    return recorded


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens on it once the socket is closed


def test_an_unreachable_postgresql_is_named_without_its_password(tmp_path: Path) -> None:
    port = closed_port()
    url = f"postgresql://kaimen:hunter2@127.0.0.1:{port}/kaimen"
    for command in (["db", "upgrade"], ["tpp", "list"], ["keys", "list"]):
        result = kaimen("--database-url", url, *command, KAIMEN_DATA_DIR=str(tmp_path))
        assert (result.exit_code, result.output) == (
            1,
            f"Error: cannot reach database postgresql://kaimen:***@127.0.0.1:{port}/kaimen: "
            f"[Errno 111] Connect call failed ('127.0.0.1', {port})\n",
        )


def test_a_missing_postgresql_database_is_named(tmp_path: Path) -> None:
    from tests.conftest import TEST_DATABASE_URL

    if not TEST_DATABASE_URL:
        pytest.skip("PostgreSQL not available: set KAIMEN_TEST_DATABASE_URL to run this test")
    missing = TEST_DATABASE_URL.rsplit("/", 1)[0] + "/kaimen_no_such_database"
    result = kaimen("--database-url", missing, "tpp", "list", KAIMEN_DATA_DIR=str(tmp_path))
    assert result.exit_code == 1
    assert result.output.endswith(': database "kaimen_no_such_database" does not exist\n')
    assert result.output.startswith("Error: cannot reach database postgresql")


def test_a_sqlite_file_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    data_dir = tmp_path / "file" / "data"
    result = kaimen("--data-dir", str(data_dir), "tpp", "list")
    assert (result.exit_code, result.output) == (
        1,
        f"Error: cannot open database {data_dir}/kaimen.db: [Errno 20] Not a directory: '{data_dir}'\n",
    )


def test_serve_refuses_a_database_that_was_never_migrated(tmp_path: Path, runs: list[dict[str, Any]]) -> None:
    result = kaimen("serve", "--port", "0", KAIMEN_DATA_DIR=str(tmp_path))
    assert (result.exit_code, result.output) == (
        1,
        f"Error: database {tmp_path}/kaimen.db has no Kaimen schema: run `kaimen db upgrade`\n",
    )
    assert (runs, list(tmp_path.iterdir())) == ([], [])  # nothing served, no empty database left behind
    assert kaimen("db", "upgrade", KAIMEN_DATA_DIR=str(tmp_path)).exit_code == 0
    assert kaimen("serve", "--port", "0", KAIMEN_DATA_DIR=str(tmp_path)).exit_code == 0
    assert len(runs) == 1


def test_serve_refuses_a_database_behind_this_version(tmp_path: Path, runs: list[dict[str, Any]]) -> None:
    from alembic.script import ScriptDirectory

    from kaimen.store.migrate import alembic_config, current_head, upgrade

    head = current_head()
    previous = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(head).down_revision
    assert isinstance(previous, str)
    upgrade(f"sqlite+aiosqlite:///{tmp_path / 'kaimen.db'}", previous)
    result = kaimen("serve", "--port", "0", KAIMEN_DATA_DIR=str(tmp_path))
    assert (result.exit_code, result.output) == (
        1,
        f"Error: database {tmp_path}/kaimen.db is at revision {previous}, not {head}: "
        "run `kaimen db upgrade`\n",
    )
    assert runs == []


SIGNING_KEY_MISMATCH = re.compile(
    r"Error: signing key [\w-]{16} was sealed with another secret key: every worker of one deployment "
    r"needs the same KAIMEN_SECRET_KEY\n"
)


def test_another_secret_key_on_a_data_dir_is_refused_before_serving(
    tmp_path: Path, runs: list[dict[str, Any]]
) -> None:
    # The signing keys are made (and sealed with the data dir's own key) on first use.
    assert kaimen("--data-dir", str(tmp_path), "keys", "rotate").exit_code == 0
    other = secrets.token_urlsafe(32)
    result = kaimen("--data-dir", str(tmp_path), "serve", "--port", "0", KAIMEN_SECRET_KEY=other)
    assert result.exit_code == 1
    assert SIGNING_KEY_MISMATCH.fullmatch(result.output), result.output
    assert other not in result.output
    assert runs == []
    # With the data dir's own key it serves.
    assert kaimen("--data-dir", str(tmp_path), "serve", "--port", "0").exit_code == 0
    assert len(runs) == 1


def test_another_secret_key_on_the_sandbox_directory_key_is_refused(
    tmp_path: Path, runs: list[dict[str, Any]], sqlite_url: str
) -> None:
    from kaimen.authz.directory import DirectoryKey
    from kaimen.settings import load_settings

    kid = DirectoryKey.for_settings(load_settings(data_dir=tmp_path)).jwks()["keys"][0]["kid"]
    result = kaimen(
        "serve", "--port", "0", KAIMEN_DATA_DIR=str(tmp_path), KAIMEN_SECRET_KEY=secrets.token_urlsafe(32)
    )
    assert (result.exit_code, result.output) == (
        1,
        f"Error: directory key {kid} in {tmp_path}/directory.key was sealed with another secret key: "
        "every worker of one deployment needs the same KAIMEN_SECRET_KEY, the one its data dir was "
        "created with\n",
    )
    assert runs == []


@pytest.fixture
def granian_like_listener() -> Iterator[int]:
    """A port listened on as granian listens: with SO_REUSEPORT, which would let a second server bind."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_port_in_use_is_found_even_when_listened_on_with_reuseport(granian_like_listener: int) -> None:
    port = granian_like_listener
    assert server.bind_problem("127.0.0.1", port) == f"port {port} on 127.0.0.1 is in use"
    assert server.bind_problem("0.0.0.0", port) == f"port {port} on 0.0.0.0 is in use"
    assert server.bind_problem("127.0.0.1", closed_port()) is None
    assert server.bind_problem("127.0.0.1", 0) is None


def test_serve_refuses_a_port_in_use(
    granian_like_listener: int, tmp_path: Path, runs: list[dict[str, Any]], sqlite_url: str
) -> None:
    port = granian_like_listener
    result = kaimen("serve", "--port", str(port), KAIMEN_DATA_DIR=str(tmp_path))
    assert (result.exit_code, result.output) == (1, f"Error: port {port} on 127.0.0.1 is in use\n")
    assert runs == []


def test_demo_refuses_a_port_in_use_before_touching_the_data_dir(
    granian_like_listener: int, tmp_path: Path, runs: list[dict[str, Any]]
) -> None:
    port = granian_like_listener
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    credentials = data_dir / "credentials.json"
    credentials.write_text('{"the running demo": "its credentials"}')
    result = kaimen("demo", "--port", str(port), "--data-dir", str(data_dir))
    assert (result.exit_code, result.output) == (1, f"Error: port {port} on 127.0.0.1 is in use\n")
    assert [path.name for path in data_dir.iterdir()] == ["credentials.json"]  # nothing migrated or seeded
    assert credentials.read_text() == '{"the running demo": "its credentials"}'
    assert runs == []
