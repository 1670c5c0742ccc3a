"""The gateway benchmark's data dir and server settings, and the checks that the gateway does the work.

- A temporary data dir with a migrated SQLite database, the demo products and one APPROVED PARTNER
  application with one API key.
- Server settings as KAIMEN_* variables, with rate limits so high they never trigger (the limiter
  still counts every call and sets its RateLimit-* fields).
- ``sanity_check`` runs before any timed run: the key gets 200 with the body, a wrong or missing key
  gets 401, If-None-Match gets 304, and every call so far is in the audit table.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kaimen.settings import load_settings
from kaimen.store.db import Database
from kaimen.store.migrate import upgrade

PATH = "/open-banking/v2.4/personal-current-accounts"
API_NAME = "opendata.pca"
NEVER = "1000000000/minute"  # a limit no benchmark reaches
# The demo's tiers (kaimen.settings), each with limits that never trigger.
TIERS = {
    "opendata.pca": "ACQUAINTANCE",
    "opendata.bca": "PARTNER",
    "opendata.atm": "PUBLIC",
    "opendata.branch": "PUBLIC",
}


@dataclass(frozen=True)
class Prepared:
    data_dir: Path
    db_path: Path
    api_key: str
    application_id: str
    env: dict[str, str]


def server_env(
    data_dir: Path, *, log_level: str | None, redis_url: str | None, tiers: dict[str, str] = TIERS
) -> dict[str, str]:
    """``tiers``: the APIs whose limits never trigger (bench/token.py adds the authorization server's)."""
    apis = {
        name: {"tier": tier, "default_app_rate": NEVER, "app_rate": {"PARTNER": NEVER}, "ip_rate": NEVER}
        for name, tier in tiers.items()
    }
    env = {"KAIMEN_MODE": "embedded", "KAIMEN_DATA_DIR": str(data_dir), "KAIMEN_APIS": json.dumps(apis)}
    if log_level:
        env["KAIMEN_LOG_LEVEL"] = log_level
    if redis_url:
        env["KAIMEN_REDIS_URL"] = redis_url
    return env


def clean_environ() -> None:
    """Forget every KAIMEN_* variable of the caller's shell: only ``server_env`` configures the servers."""
    for name in [n for n in os.environ if n.startswith("KAIMEN_")]:
        del os.environ[name]


async def _seed(url: str) -> tuple[str, str]:
    from kaimen.demo.products import seed_products
    from kaimen.tiers import Tier
    from kaimen.tpp.registry import Registry, ReviewStatus

    db = Database(url)
    try:
        await seed_products(db)
        registry = Registry(db)
        app = await registry.register(
            organisation="Bench Ltd",
            application="Gateway benchmark",
            tier=Tier.PARTNER,
            status=ReviewStatus.APPROVED,
        )
        issued = await registry.create_key(app.id, label="bench")
        return app.id, issued.api_key
    finally:
        await db.dispose()


def prepare(data_dir: Path, *, log_level: str | None, redis_url: str | None) -> Prepared:
    env = server_env(data_dir, log_level=log_level, redis_url=redis_url)
    settings = load_settings(data_dir=data_dir, apis=json.loads(env["KAIMEN_APIS"]))
    upgrade(settings.sqlalchemy_url)
    app_id, api_key = asyncio.run(_seed(settings.sqlalchemy_url))
    return Prepared(data_dir, data_dir / "kaimen.db", api_key, app_id, env)


def audit_count(db_path: Path) -> int:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT count(*) FROM audit_records").fetchone()
    return int(row[0])


def settle_audit(prepared: Prepared, timeout: float = 60.0) -> int:
    """Wait until the audit writer has caught up (the count stops moving), so runs do not overlap."""
    last = -1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = audit_count(prepared.db_path)
        if count == last:
            return count
        last = count
        time.sleep(0.5)
    return last


def verify_audit_chain(prepared: Prepared) -> dict[str, Any]:
    from kaimen.audit.verify import verify

    async def run() -> Any:
        db = Database(load_settings(data_dir=prepared.data_dir).sqlalchemy_url)
        try:
            return await verify(db)
        finally:
            await db.dispose()

    started = time.monotonic()
    verdict = asyncio.run(run())
    return {
        "intact": verdict.broken is None,
        "records": verdict.count,
        "seconds": round(time.monotonic() - started, 2),
    }


class SanityError(AssertionError):
    pass


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise SanityError(what)


def sanity_check(base_url: str, prepared: Prepared, wait_for_audit: float = 5.0) -> dict[str, Any]:
    """Prove the gateway does the full work; returns the body and media type the bare app must serve."""
    url = base_url + PATH
    before = audit_count(prepared.db_path)
    calls = 0
    with httpx.Client(timeout=10) as client:
        ok = client.get(url, headers={"x-api-key": prepared.api_key})
        again = client.get(url, headers={"x-api-key": prepared.api_key})  # served from the response cache
        calls += 2
        _expect(ok.status_code == 200, f"key: expected 200, got {ok.status_code} {ok.text[:300]}")
        _expect(again.status_code == 200 and again.content == ok.content, "second GET differs from the first")
        doc = ok.json()
        _expect(
            isinstance(doc.get("data"), list) and doc["data"] and "meta" in doc, "body is not a PCA document"
        )
        for header in ("etag", "ratelimit-limit", "ratelimit-remaining", "x-fapi-interaction-id"):
            _expect(header in ok.headers, f"200 answer lacks {header}")
        _expect(ok.headers["ratelimit-limit"] != "", "rate limiter did not count the call")

        wrong_key = prepared.api_key[:-4] + ("AAAA" if not prepared.api_key.endswith("AAAA") else "BBBB")
        refusals = {
            "wrong key": client.get(url, headers={"x-api-key": wrong_key}).status_code,
            "unknown key": client.get(
                url, headers={"x-api-key": "kmn_0123456789abcdef_" + "x" * 43}
            ).status_code,
            "no key": client.get(url).status_code,
        }
        calls += 3
        for what, status in refusals.items():
            _expect(status == 401, f"{what}: expected 401, got {status}")
        cached = client.get(url, headers={"x-api-key": prepared.api_key, "if-none-match": ok.headers["etag"]})
        calls += 1
        _expect(cached.status_code == 304, f"If-None-Match: expected 304, got {cached.status_code}")

    deadline = time.monotonic() + wait_for_audit
    audited = audit_count(prepared.db_path) - before
    while audited < calls and time.monotonic() < deadline:
        time.sleep(0.1)
        audited = audit_count(prepared.db_path) - before
    _expect(audited >= calls, f"audit: {audited} records for {calls} calls")
    return {
        "body": ok.content,
        "media_type": ok.headers["content-type"],
        "body_bytes": len(ok.content),
        "response_headers": sorted(ok.headers.keys()),
        "refusals": refusals,
        "not_modified": cached.status_code,
        "audited_calls": f"{audited}/{calls}",
    }
