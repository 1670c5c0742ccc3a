"""``kaimen demo`` takes its data dir as every other command does: its own --data-dir, else the
global --data-dir, else KAIMEN_DATA_DIR, else .kaimen-data (DESIGN.md sandbox contract; `make demo`
names the repo's .kaimen-data itself). granian is replaced by a recorder; tests/test_demo_server.py
runs the real demo."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kaimen import server
from kaimen.cli.main import cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("env_dir", "global_dir", "demo_dir", "used"),
    [
        ("from-env", None, None, "from-env"),
        ("from-env", "global", None, "global"),
        ("from-env", "global", "own", "own"),
        (None, None, None, ".kaimen-data"),
    ],
)
def test_demo_seeds_and_serves_the_settings_data_dir(
    env_dir: str | None,
    global_dir: str | None,
    demo_dir: str | None,
    used: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # relative data dirs, .kaimen-data included, land here
    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(server, "run", lambda **kwargs: runs.append(kwargs))
    args = ["--data-dir", global_dir] if global_dir else []
    args += ["demo", "--port", str(free_port())]
    args += ["--data-dir", demo_dir] if demo_dir else []
    result = CliRunner().invoke(cli, args, env={"KAIMEN_DATA_DIR": env_dir})
    assert result.exit_code == 0, result.output
    expected = tmp_path / used
    [run] = runs
    assert run["env"]["KAIMEN_DATA_DIR"] == str(expected)
    assert run["env"]["KAIMEN_DEMO_CREDENTIALS_OUT"] == str(expected / "credentials.json")
    # Seeded there, and nowhere else.
    assert sorted(path.name for path in tmp_path.iterdir()) == [used]
    assert (expected / "kaimen.db").is_file()
