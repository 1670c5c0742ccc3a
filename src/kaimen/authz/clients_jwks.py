"""A client's JWKS fetched from its ``jwks_uri`` (RFC 7591 §2), with a deadline and a cache.

- The whole fetch (connect, TLS, headers, body) must finish within
  ``settings.oauth.jwks_uri_timeout_seconds``; redirects are not followed; the body is at most 64 KiB
  and must be a JWK Set that passes the same checks as an inline ``jwks``
  (:func:`kaimen.authz.clients_metadata.checked_jwks`).
- A fetched set is kept for ``settings.oauth.jwks_uri_cache_seconds`` per worker. When an assertion
  names a ``kid`` the cached set lacks (the client rotated its keys), the set may be fetched again, but
  not more often than every ``MIN_REFETCH_SECONDS``, so random ``kid``s cannot turn Kaimen into a
  request amplifier against the client's server.
- Concurrent requests for the same URI share one fetch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import orjson
from joserfc.jwk import KeySet

from kaimen.authz.errors import OAuthError
from kaimen.settings import Settings

MAX_BODY_BYTES = 64 << 10
MIN_REFETCH_SECONDS = 10.0
MAX_CACHED = 1000


class JwksUnavailable(Exception):
    """The client's jwks_uri could not be fetched or did not hold a usable JWK Set."""


class JwksFetcher:
    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = settings.oauth.jwks_uri_timeout_seconds
        self.ttl = settings.oauth.jwks_uri_cache_seconds
        self._http = http
        self._clock = clock
        self._cache: dict[str, tuple[float, KeySet]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, uri: str, *, refetch: bool = False) -> KeySet:
        """The key set at ``uri``; ``refetch`` asks for a fresh copy (subject to the refetch floor)."""
        cached = self._fresh(uri, refetch)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(uri, asyncio.Lock())
        async with lock:
            cached = self._fresh(uri, refetch)  # another request may have fetched it meanwhile
            if cached is not None:
                return cached
            key_set = await self._fetch(uri)
            if len(self._cache) >= MAX_CACHED:
                self._cache.pop(next(iter(self._cache)))
            self._cache[uri] = (self._clock(), key_set)
            return key_set

    def _fresh(self, uri: str, refetch: bool) -> KeySet | None:
        entry = self._cache.get(uri)
        if entry is None:
            return None
        age = self._clock() - entry[0]
        if age >= self.ttl or (refetch and age >= MIN_REFETCH_SECONDS):
            return None
        return entry[1]

    async def _fetch(self, uri: str) -> KeySet:
        from kaimen.authz.clients_metadata import checked_jwks

        try:
            async with asyncio.timeout(self.timeout):
                body = await self._download(uri)
            return checked_jwks(orjson.loads(body))
        except (TimeoutError, httpx.HTTPError, orjson.JSONDecodeError, OAuthError) as exc:
            raise JwksUnavailable(f"{type(exc).__name__}") from exc

    async def _download(self, uri: str) -> bytes:
        if self._http is not None:
            return await self._read(self._http, uri)
        async with httpx.AsyncClient(timeout=self.timeout) as http:
            return await self._read(http, uri)

    async def _read(self, http: httpx.AsyncClient, uri: str) -> bytes:
        headers = {"accept": "application/jwk-set+json, application/json"}
        async with http.stream("GET", uri, headers=headers, follow_redirects=False) as response:
            if response.status_code != 200:
                raise httpx.HTTPStatusError("not 200", request=response.request, response=response)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise httpx.HTTPError("JWKS body too large")
            return bytes(body)
