"""API key format and checks (issue 2, item 3: ≥ 256 random bits, stored as a hash, lookup prefix)."""

from __future__ import annotations

import base64
import hashlib

from kaimen.tpp import keys


def test_key_carries_256_random_bits_and_a_lookup_prefix() -> None:
    new = keys.generate()
    scheme, prefix, secret = new.plaintext.split("_", 2)
    assert scheme == "kmn"
    assert prefix == new.prefix and len(prefix) == 16 and int(prefix, 16) >= 0
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32  # 256 bits
    assert len(new.plaintext) == keys.KEY_LENGTH
    assert new.digest == hashlib.sha256(new.plaintext.encode()).hexdigest()


def test_keys_and_ids_do_not_repeat() -> None:
    assert len({keys.generate().plaintext for _ in range(1000)}) == 1000
    assert len({keys.new_id("app") for _ in range(1000)}) == 1000


def test_prefix_of_accepts_only_the_kaimen_shape() -> None:
    new = keys.generate()
    assert keys.prefix_of(new.plaintext) == new.prefix
    assert keys.prefix_of(new.plaintext[:-1]) is None
    assert keys.prefix_of("xyz" + new.plaintext[3:]) is None
    assert keys.prefix_of(new.plaintext[:20] + "-" + new.plaintext[21:]) is None
    assert keys.prefix_of("") is None


def test_digest_matches_only_the_same_key() -> None:
    new = keys.generate()
    other = keys.generate()
    assert keys.digest_matches(new.plaintext, new.digest)
    assert not keys.digest_matches(other.plaintext, new.digest)
    tampered = new.plaintext[:-1] + ("A" if new.plaintext[-1] != "A" else "B")
    assert not keys.digest_matches(tampered, new.digest)
