"""CallerDirectory: which application an API key belongs to, on the gateway's hot path.

Issue 2, item 3: "A key of a pending, suspended or revoked application, or a revoked key, stops working
at once, in every worker." Lookups are cached in memory, and the cache is dropped whenever the
``registry`` generation moves (kaimen.store.watch): the watcher is polled before every cached lookup
(on SQLite this sees a commit by any process, the ``kaimen tpp`` command included; on PostgreSQL,
NOTIFY drives it), and while the watcher is unhealthy the cache is bypassed and the database read.

On PostgreSQL the NOTIFY reaches other workers milliseconds after the revoking command has answered,
so a cached admission could outlive the revocation (tests/test_revocation_window.py): there a cached
admitted key is served only after one indexed read without the ORM confirms the key is unrevoked and
its application still approved, and returns its tier, so a tier change counts at once too; refusals
never turn into admissions and are served from the cache.
On SQLite every process sees a commit on its next poll, so the cache alone is exact.

A cache hit costs a dict lookup and one SHA-256 (plus that read on PostgreSQL). The cache is
bounded, and keys that identify no admitted caller are kept apart from those that do, so a flood of
random keys can neither grow memory nor push working keys out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select

from kaimen.gateway.context import Caller
from kaimen.store.bounded import BoundedDict
from kaimen.store.db import Database
from kaimen.store.models import ApiKey, Application
from kaimen.store.watch import Watcher
from kaimen.tiers import Tier
from kaimen.tpp import keys
from kaimen.tpp.views import ReviewStatus

GENERATION = "registry"
_LIVE = (
    "SELECT applications.tier FROM api_keys JOIN applications ON applications.id = api_keys.application_id "
    "WHERE api_keys.id = :key_id AND api_keys.revoked_at IS NULL AND applications.status = :approved"
)


@dataclass(frozen=True, slots=True)
class _Entry:
    digest: str  # SHA-256 of the key stored for this prefix ("" when the prefix is unknown)
    caller: Caller | None  # None: unknown prefix, revoked key or application not approved


class CallerDirectory:
    def __init__(
        self, db: Database, watcher: Watcher, *, max_callers: int = 10_000, max_refusals: int = 2_000
    ) -> None:
        self.db = db
        self.watcher = watcher
        self._admitted = BoundedDict[_Entry](max_callers)
        self._refused = BoundedDict[_Entry](max_refusals)
        # Incremented on every drop, so a database read that raced a change is never cached.
        self._epoch = 0
        # Whether every worker sees a change on its next call (see the module docstring).
        self._cache_exact = db.is_sqlite
        watcher.on_change(GENERATION, self.clear)

    def clear(self) -> None:
        self._epoch += 1
        self._admitted.entries.clear()
        self._refused.entries.clear()

    async def lookup(self, api_key: str) -> Caller | None:
        """The caller ``api_key`` identifies, or None when it is unknown, revoked or not approved."""
        prefix = keys.prefix_of(api_key)
        if prefix is None:
            return None
        watcher = self.watcher
        watcher.poll()
        if watcher.healthy:
            entry = self._admitted.entries.get(prefix) or self._refused.entries.get(prefix)
            if entry is not None and entry.caller is not None and not self._cache_exact:
                tier = await self._still_admitted(entry.caller)
                if tier is None:
                    return None  # revoked or suspended by another worker whose NOTIFY is on its way
                if tier != entry.caller.tier:  # changed by another worker: this call uses the new tier
                    entry = replace(entry, caller=replace(entry.caller, tier=Tier(tier)))
            if entry is None:
                epoch = self._epoch
                entry = await self._read(prefix)
                if epoch == self._epoch and watcher.healthy:
                    (self._admitted if entry.caller else self._refused).put(prefix, entry)
        else:
            entry = await self._read(prefix)
        if entry.caller is None or not keys.digest_matches(api_key, entry.digest):
            return None
        return entry.caller

    async def _still_admitted(self, caller: Caller) -> str | None:
        """The application's tier now, if the key is unrevoked and the application approved."""
        params = {"key_id": caller.key_id, "approved": ReviewStatus.APPROVED.value}
        rows = await self.db.direct.rows(_LIVE, params)
        return str(rows[0][0]) if rows else None

    async def _read(self, prefix: str) -> _Entry:
        query = (
            select(
                ApiKey.id,
                ApiKey.digest,
                ApiKey.revoked_at,
                Application.id,
                Application.organisation_id,
                Application.status,
                Application.tier,
            )
            .join(Application, ApiKey.application_id == Application.id)
            .where(ApiKey.prefix == prefix)
        )
        async with self.db.read() as session:
            row = (await session.execute(query)).first()
        if row is None:
            return _Entry(digest="", caller=None)
        key_id, digest, revoked_at, app_id, org_id, status, tier = row
        if revoked_at is not None or status != ReviewStatus.APPROVED:
            return _Entry(digest=digest, caller=None)
        return _Entry(
            digest=digest,
            caller=Caller(application_id=app_id, organisation_id=org_id, tier=Tier(tier), key_id=key_id),
        )
