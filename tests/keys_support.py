"""RSA keys for the test session without paying for each one (tests/conftest.py installs this).

A 2048-bit RSA key costs some 50 ms to generate and another 30 ms to load from PEM (OpenSSL checks the
primes again), and the suite makes thousands: every app start generates its PS256 signing key and its
directory key and loads both back, every TPP of the harnesses generates one or two. No test checks how
a key is generated, only what is done with it, so within this process (servers started as processes
generate their own keys) joserfc's ``RSAKey.generate_key`` draws from a pool of keys that
cryptography generated, of the size asked for, under rules that keep every test's keys as distinct
as freshly generated ones:

- a key is handed out at most once per test, so the keys one test makes all differ;
- a key is not handed out again while a joserfc key made from it is alive, so a key that a ``@cache``
  helper or a fixture still holds stays its own;
- in a module whose tests use a module-scoped (or class- or package-scoped) fixture, a key is handed
  out at most once in the whole module: what such a fixture keeps in a database or a data dir (an
  app's signing and directory keys) outlives the joserfc object, and every key of the module stays
  distinct from it. Function-scoped state goes with its test.

Loading a private key from PEM is memoised by the PEM's bytes: the same bytes give the same immutable
key, and bytes that fail to load are not remembered (they fail again).
"""

from __future__ import annotations

import functools
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc._rfc7517 import pem
from joserfc._rfc7518.rsa_key import RSABinding
from joserfc.jwk import RSAKey

PUBLIC_EXPONENT = 65537  # what joserfc's RSABinding asks cryptography for


@dataclass
class _Pooled:
    numbers: rsa.RSAPrivateNumbers
    module: int  # the module (its number in the run) it was last handed out in
    test: str  # the test it was last handed out in
    holders: list[weakref.ref[RSAKey]] = field(default_factory=list)

    def held(self) -> bool:
        return any(holder() is not None for holder in self.holders)


class RsaKeyPool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_size: dict[int, list[_Pooled]] = {}
        self._drawn = threading.local()
        self.module = 0  # the number of the module under test
        self._module_path = ""
        self._test = ""
        self._stateful = False
        self.generated = 0
        self.reused = 0

    def enter(self, module_path: str, test: str, stateful: bool) -> None:
        """``test`` of ``module_path`` is about to run; ``stateful``: it uses a fixture that outlives it
        (other than the session's databases, which hold no keys)."""
        with self._lock:
            if module_path != self._module_path:
                self._module_path = module_path
                self.module += 1
            self._test = test
            self._stateful = stateful

    def _free(self, pooled: _Pooled) -> bool:
        if pooled.test == self._test or pooled.held():
            return False
        return not (self._stateful and pooled.module == self.module)

    def private_key(self, size: int) -> rsa.RSAPrivateKey:
        """A key of ``size`` bits under the module docstring's rules (RSABinding.generate_private_key)."""
        with self._lock:
            for pooled in self._by_size.get(size, []):
                if self._free(pooled):
                    pooled.module, pooled.test = self.module, self._test
                    pooled.holders.clear()
                    self.reused += 1
                    self._drawn.pooled = pooled
                    # The numbers came from cryptography's generator: nothing to check again.
                    return pooled.numbers.private_key(unsafe_skip_rsa_key_validation=True)
        raw = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=size)
        pooled = _Pooled(raw.private_numbers(), self.module, self._test)
        with self._lock:
            self._by_size.setdefault(size, []).append(pooled)
            self.generated += 1
        self._drawn.pooled = pooled
        return raw

    def held_by(self, key: RSAKey) -> None:
        """``key`` was made from the key this thread drew last: that key is in use while it lives."""
        pooled: _Pooled | None = getattr(self._drawn, "pooled", None)
        self._drawn.pooled = None
        if pooled is not None:
            with self._lock:
                pooled.holders.append(weakref.ref(key))


POOL = RsaKeyPool()


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route joserfc's RSA key generation through POOL and memoise its PEM private-key loads."""
    generate = RSAKey.generate_key.__func__  # type: ignore[attr-defined]

    def generate_key(cls: type[RSAKey], *args: Any, **kwargs: Any) -> RSAKey:
        key: RSAKey = generate(cls, *args, **kwargs)
        POOL.held_by(key)
        return key

    monkeypatch.setattr(RSABinding, "generate_private_key", staticmethod(POOL.private_key))
    monkeypatch.setattr(RSAKey, "generate_key", classmethod(generate_key))
    load = functools.lru_cache(maxsize=4096)(serialization.load_pem_private_key)
    monkeypatch.setattr(pem, "load_pem_private_key", load)  # the name joserfc's pem module calls
