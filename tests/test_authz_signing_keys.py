"""Signing key rotation (issue 3 item 1): ``kaimen keys rotate`` publishes the new key before using it
and keeps the old one in the JWKS until everything it signed has expired, without ever leaving the
server unable to open or use its keys."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from kaimen.authz.sealing import Sealer
from kaimen.authz.signing import GENERATION, SealingKeyMismatch, SigningKeys, rotate
from kaimen.cli.main import cli
from kaimen.settings import Settings
from kaimen.store.authz_models import SigningKey
from kaimen.store.db import Database
from kaimen.store.models import Generation
from kaimen.store.types import utcnow
from kaimen.store.watch import build_watcher


async def _generation(db: Database) -> int | None:
    async with db.read() as session:
        value: int | None = (
            await session.execute(select(Generation.value).where(Generation.name == GENERATION))
        ).scalar_one_or_none()
    return value


def _keys_cli(data_dir: Path, *args: str, secret_key: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(
        cli,
        ["--data-dir", str(data_dir), "keys", *args],
        env={"KAIMEN_SECRET_KEY": secret_key, **(env or {})},
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


async def test_rotate_before_the_first_start_creates_keys_that_sign_at_once(db: Database) -> None:
    sealer = Sealer(os.urandom(32))
    new = await rotate(db, sealer, publish_for=timedelta(hours=1), keep_old_for=timedelta(hours=1))
    keys = SigningKeys(db, sealer)
    await keys.ensure()  # the server's start: nothing to add
    assert sorted((k.alg, k.kid) for k in new) == sorted((k["alg"], k["kid"]) for k in keys.jwks()["keys"])
    assert {keys.current(k.alg).kid for k in new} == {k.kid for k in new}
    assert [k.replaces for k in new] == [(), ()]


async def test_old_keys_retire_keep_old_for_after_the_new_ones_start_signing(db: Database) -> None:
    sealer = Sealer(os.urandom(32))
    keys = SigningKeys(db, sealer)
    await keys.ensure()
    old = {alg: keys.current(alg).kid for alg in ("PS256", "ES256")}
    new = await rotate(db, sealer, publish_for=timedelta(minutes=15), keep_old_for=timedelta(hours=2))
    async with db.read() as session:
        rows = {row.kid: row for row in (await session.execute(select(SigningKey))).scalars()}
    assert sorted(k.alg for k in new) == ["ES256", "PS256"]
    for key in new:
        assert timedelta(minutes=14) < key.activates_at - utcnow() <= timedelta(minutes=15)
        assert (rows[key.kid].activates_at, rows[key.kid].retired_at) == (key.activates_at, None)
        assert rows[old[key.alg]].retired_at == key.activates_at + timedelta(hours=2)
        assert key.replaces == (old[key.alg],)
    await keys.load()
    assert {alg: keys.current(alg).kid for alg in old} == old  # announced, not used yet


async def test_a_start_with_no_active_key_creates_one(db: Database) -> None:
    """A database left with announced keys only (``keys rotate`` before the first start, before rotate
    learned to activate such keys at once): the server must not start unable to sign."""
    sealer = Sealer(os.urandom(32))
    keys = SigningKeys(db, sealer)
    await keys.ensure()
    announced = await rotate(db, sealer, publish_for=timedelta(hours=1), keep_old_for=timedelta(hours=1))
    async with db.write() as session:  # the first keys gone: only the announced ones are left
        await session.execute(
            update(SigningKey)
            .where(SigningKey.kid.not_in([k.kid for k in announced]))
            .values(retired_at=utcnow())
        )
    await keys.load()
    with pytest.raises(LookupError, match="no active PS256 signing key"):
        keys.current("PS256")
    await keys.ensure()
    started = {keys.current(alg).kid for alg in ("PS256", "ES256")}
    assert len(started) == 2 and started.isdisjoint(k.kid for k in announced)
    published = {k["kid"] for k in keys.jwks()["keys"]}
    assert published == started | {k.kid for k in announced}


def test_keys_rotate_refuses_a_publish_window_shorter_than_the_jwks_cache_lifetime(
    tmp_path: Path,
) -> None:
    secret = secrets.token_urlsafe(32)
    for too_short in ("299", "0", "-3600"):
        refused = _keys_cli(tmp_path, "rotate", "--publish-for", too_short, secret_key=secret)
        assert refused.exit_code == 2
        assert "Invalid value for '--publish-for': must be at least 300 s" in refused.output
    assert json.loads(_keys_cli(tmp_path, "list", secret_key=secret).output) == []  # nothing created
    assert _keys_cli(tmp_path, "rotate", "--publish-for", "300", secret_key=secret).exit_code == 0


def test_keys_rotate_refuses_to_drop_old_keys_before_what_they_signed_expires(tmp_path: Path) -> None:
    secret = secrets.token_urlsafe(32)
    assert _keys_cli(tmp_path, "rotate", secret_key=secret).exit_code == 0
    first = json.loads(_keys_cli(tmp_path, "list", secret_key=secret).output)
    # ID tokens live as long as access tokens: 900 s here, above signed responses' 300 s.
    env = {"KAIMEN_OAUTH__ACCESS_TOKEN_TTL_SECONDS": "900"}
    for too_short in ("899", "0", "-3600"):
        refused = _keys_cli(tmp_path, "rotate", "--keep-old-for", too_short, secret_key=secret, env=env)
        assert refused.exit_code == 2
        assert "Invalid value for '--keep-old-for': must be at least 900 s" in refused.output
    assert json.loads(_keys_cli(tmp_path, "list", secret_key=secret).output) == first
    done = _keys_cli(tmp_path, "rotate", "--keep-old-for", "900", secret_key=secret, env=env)
    assert done.exit_code == 0
    rows = {row["kid"]: row for row in json.loads(_keys_cli(tmp_path, "list", secret_key=secret).output)}
    for old in first:
        new = next(r for r in rows.values() if r["alg"] == old["alg"] and r["kid"] != old["kid"])
        retired, activates = (datetime.fromisoformat(rows[old["kid"]]["retired_at"]),
                              datetime.fromisoformat(new["activates_at"]))  # fmt: skip
        assert retired - activates == timedelta(seconds=900)


async def test_an_idle_embedded_server_publishes_a_cli_rotation_on_the_next_jwks_read(
    settings: Settings, client: Any
) -> None:
    """Publish before use: the JWKS must show the new keys during the publish window, in every
    worker, without waiting for some other request to look at the database."""
    before = {k["kid"] for k in (await client.get("/oauth2/jwks")).json()["keys"]}
    base = ["--data-dir", str(settings.data_dir), "--database-url", settings.sqlalchemy_url]
    # The real command, on its own connection (its asyncio.run needs a thread of its own).
    rotated = await asyncio.to_thread(CliRunner().invoke, cli, [*base, "keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    new = set(re.findall(r"signing key (\S+):", rotated.output))
    assert len(new) == 2
    after = await client.get("/oauth2/jwks")
    assert after.status_code == 200
    assert {k["kid"] for k in after.json()["keys"]} == before | new


async def test_a_signature_after_a_rotation_on_another_connection_uses_the_new_key(
    settings: Settings,
) -> None:
    sealer = Sealer(os.urandom(32))
    db, other = Database(settings.sqlalchemy_url), Database(settings.sqlalchemy_url)
    watcher = build_watcher(settings, db)
    await watcher.start()
    try:
        keys = SigningKeys(db, sealer, watcher)
        await keys.ensure()
        old = keys.current("PS256").kid
        new = await rotate(other, sealer, publish_for=timedelta(0), keep_old_for=timedelta(hours=1))
        await keys.refresh()  # what IdTokens.issue and ResponseSigner.sign do before signing
        signed = keys.sign({"sub": "x"}, "PS256")
        verified = jwt.decode(signed, KeySet.import_key_set(keys.jwks()), algorithms=["PS256"])
        assert verified.header["kid"] == next(k.kid for k in new if k.alg == "PS256") != old
    finally:
        await watcher.stop()
        await other.dispose()
        await db.dispose()


class _ListenerDown:
    """A PostgreSQL watcher whose LISTEN connection is down: no notification arrives."""

    healthy = False

    def on_change(self, name: str, callback: Callable[[], None]) -> None:
        pass

    def poll(self) -> None:
        pass

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


async def test_while_the_watcher_cannot_vouch_a_rotation_is_read_from_the_database(
    database_url: str,
) -> None:
    sealer = Sealer(os.urandom(32))
    db, other = Database(database_url), Database(database_url)
    try:
        keys = SigningKeys(db, sealer, _ListenerDown())
        await keys.ensure()
        new = await rotate(other, sealer, publish_for=timedelta(0), keep_old_for=timedelta(hours=1))
        await keys.refresh()
        assert [keys.current(k.alg).kid for k in new] == [k.kid for k in new]
    finally:
        await other.dispose()
        await db.dispose()
