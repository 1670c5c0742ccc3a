"""Signing key rotation (issue 3 item 1): ``kaimen keys rotate`` publishes the new key before using it
and keeps the old one in the JWKS until everything it signed has expired, without ever leaving the
server unable to open or use its keys."""

from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from kaimen.authz.sealing import Sealer
from kaimen.authz.signing import GENERATION, SealingKeyMismatch, SigningKeys, rotate
from kaimen.cli.main import cli
from kaimen.store.db import Database
from kaimen.store.models import Generation


async def _generation(db: Database) -> int | None:
    async with db.read() as session:
        value: int | None = (
            await session.execute(select(Generation.value).where(Generation.name == GENERATION))
        ).scalar_one_or_none()
    return value


def _keys_cli(data_dir: Path, *args: str, secret_key: str) -> Any:
    return CliRunner().invoke(
        cli, ["--data-dir", str(data_dir), "keys", *args], env={"KAIMEN_SECRET_KEY": secret_key}
    )


async def test_rotate_under_another_secret_key_is_refused_and_writes_nothing(db: Database) -> None:
    sealer = Sealer(os.urandom(32))
    keys = SigningKeys(db, sealer)
    await keys.ensure()
    before = keys.jwks()
    generation = await _generation(db)
    with pytest.raises(SealingKeyMismatch, match="KAIMEN_SECRET_KEY"):
        await rotate(
            db, Sealer(os.urandom(32)), publish_for=timedelta(hours=1), keep_old_for=timedelta(hours=1)
        )
    await keys.load()  # the deployment's own secret still opens every stored key
    assert keys.jwks() == before
    assert await _generation(db) == generation


def test_keys_rotate_command_with_another_secret_key_exits_1_and_changes_nothing(tmp_path: Path) -> None:
    deployment, other = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    assert _keys_cli(tmp_path, "rotate", secret_key=deployment).exit_code == 0
    listed = _keys_cli(tmp_path, "list", secret_key=deployment).output
    refused = _keys_cli(tmp_path, "rotate", secret_key=other)
    assert refused.exit_code == 1
    assert "was sealed with another secret key" in refused.output
    assert "every worker of one deployment needs the same KAIMEN_SECRET_KEY" in refused.output
    assert _keys_cli(tmp_path, "list", secret_key=deployment).output == listed
    assert len(json.loads(listed)) == 2
