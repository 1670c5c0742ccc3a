"""Customers (issue 3, item 5), on SQLite and PostgreSQL: Argon2id passwords, the unknown-user path,
the per-customer lock with back-off, the per-IP throttle, RFC 6238 codes with each step used once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from kaimen.identity import totp
from kaimen.identity.customers import CustomerError, Customers, LoginRefused, totp_context
from kaimen.identity.throttle import throttle_key
from kaimen.store.identity_models import Customer
from kaimen.store.types import utcnow
from tests.identity_support import PASSWORD, World, make_world, world

__all__ = ["make_world", "world"]
IP = "198.51.100.9"


async def _refusal(world: World, username: str, password: str, ip: str = IP) -> LoginRefused:
    with pytest.raises(LoginRefused) as caught:
        await world.customers.verify_password(username, password, ip)
    return caught.value


async def _row(world: World, customer_id: str) -> Customer:
    async with world.db.read() as session:
        row = await session.get(Customer, customer_id)
    assert row is not None
    return row


async def test_password_right_gives_the_customer_and_is_stored_as_argon2id(world: World) -> None:
    customer_id, _ = await world.customers.create("alice", PASSWORD, "Alice Chen")
    assert await world.customers.verify_password("alice", PASSWORD, IP) == customer_id
    row = await _row(world, customer_id)
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash


async def test_password_wrong_is_refused_as_invalid_and_counted(world: World) -> None:
    customer_id, _ = await world.customers.create("alice", PASSWORD)
    refusal = await _refusal(world, "alice", "wrong")
    assert (refusal.reason, refusal.retry_after) == ("invalid", None)
    assert (await _row(world, customer_id)).failed_logins == 1


async def test_unknown_username_costs_one_verification_like_a_known_one(world: World) -> None:
    await world.customers.create("alice", PASSWORD)
    world.hasher.verifications = 0
    assert (await _refusal(world, "alice", "wrong")).reason == "invalid"
    known = world.hasher.verifications
    world.hasher.verifications = 0
    assert (await _refusal(world, "nobody", "wrong")).reason == "invalid"
    assert world.hasher.verifications == known == 1


async def test_lock_after_max_failures_then_even_the_right_password_is_refused(world: World) -> None:
    customer_id, _ = await world.customers.create("alice", PASSWORD)
    assert (await _refusal(world, "alice", "wrong")).reason == "invalid"
    assert (await _refusal(world, "alice", "wrong")).reason == "invalid"
    third = await _refusal(world, "alice", "wrong")  # max_login_failures = 3
    assert third.reason == "locked"
    assert third.retry_after is not None and 58 <= third.retry_after <= 60
    right = await _refusal(world, "alice", PASSWORD)
    assert right.reason == "locked"
    row = await _row(world, customer_id)
    assert (row.locks, row.failed_logins) == (1, 0)


async def test_each_further_lock_lasts_twice_as_long(world: World) -> None:
    customer_id, _ = await world.customers.create("alice", PASSWORD)
    lengths = []
    for _ in range(3):
        for _ in range(3):
            refusal = await _refusal(world, "alice", "wrong")
        assert refusal.reason == "locked" and refusal.retry_after is not None
        lengths.append(refusal.retry_after)
        async with world.db.write() as session:  # the lock runs out
            await session.execute(
                update(Customer)
                .where(Customer.id == customer_id)
                .values(locked_until=utcnow() - timedelta(seconds=1))
            )
    assert [round(length / 60) for length in lengths] == [1, 2, 4]


async def test_unlock_clears_the_lock_and_the_back_off(world: World) -> None:
    customer_id, _ = await world.customers.create("alice", PASSWORD)
    for _ in range(3):
        await _refusal(world, "alice", "wrong")
    assert await world.customers.unlock("alice") is True
    assert await world.customers.verify_password("alice", PASSWORD, IP) == customer_id
    row = await _row(world, customer_id)
    assert (row.failed_logins, row.locks, row.locked_until) == (0, 0, None)
    assert await world.customers.unlock("nobody") is False


async def test_concurrent_wrong_passwords_only_the_allowance_is_checked(world: World) -> None:
    """Each guess is claimed before Argon2 runs: of 12 at once, max_login_failures (3) are checked, the
    third locks, the other nine are refused as locked unchecked, and so is the right password after."""
    customer_id, _ = await world.customers.create("alice", PASSWORD)
    world.hasher.verifications = 0
    guesses = [_refusal(world, "alice", f"wrong-{i}", f"198.51.100.{i}") for i in range(12)]
    refusals = await asyncio.gather(*guesses)
    assert sorted(r.reason for r in refusals) == ["invalid"] * 2 + ["locked"] * 10
    waits = [r.retry_after for r in refusals if r.reason == "locked"]
    assert all(wait is not None and 58 <= wait <= 60 for wait in waits)
    assert world.hasher.verifications == 3
    right = await _refusal(world, "alice", PASSWORD)
    assert right.reason == "locked"
    assert world.hasher.verifications == 3
    row = await _row(world, customer_id)
    assert (row.failed_logins, row.locks) == (0, 1)


async def test_concurrent_claims_of_two_workers_share_one_allowance(
    make_world: Any, database_url: str
) -> None:
    """Two workers (two Customers, each with its own connection pool, on one database)."""
    first: World = make_world(database_url)
    second: World = make_world(database_url)
    customer_id, _ = await first.customers.create("alice", PASSWORD)

    async def claim(world: World) -> str:
        try:
            await world.customers.claim(customer_id)
        except LoginRefused as refusal:
            return refusal.reason
        return "claimed"

    outcomes = await asyncio.gather(*(claim(w) for _ in range(5) for w in (first, second)))
    assert sorted(outcomes) == ["claimed"] * 3 + ["locked"] * 7


async def test_a_right_password_gives_its_claim_back(world: World) -> None:
    """Issue 3, item 5: only failures count. Two wrong passwords and the right one leave two failures;
    the right one was the third claim, which locked the customer until it was found right."""
    customer_id, _ = await world.customers.create("alice", PASSWORD)
    await _refusal(world, "alice", "wrong")
    await _refusal(world, "alice", "wrong")
    assert await world.customers.verify_password("alice", PASSWORD, IP) == customer_id
    row = await _row(world, customer_id)
    assert (row.failed_logins, row.locks, row.locked_until) == (2, 0, None)
    third = await _refusal(world, "alice", "wrong")
    assert (third.reason, (await _row(world, customer_id)).locks) == ("locked", 1)


async def test_a_success_leaves_a_lock_that_guesses_claimed_after_it_imposed(world: World) -> None:
    customer_id, _ = await world.customers.create("alice", PASSWORD)
    early = await world.customers.claim(customer_id)
    await world.customers.claim(customer_id)
    last = await world.customers.claim(customer_id)  # the third: locks
    assert early.locked_until is None and last.locked_until is not None
    await world.customers.record_success(early)
    row = await _row(world, customer_id)
    assert (row.locks, row.locked_until) == (1, last.locked_until)
    await world.customers.record_success(last)
    row = await _row(world, customer_id)
    assert (row.failed_logins, row.locks, row.locked_until) == (0, 0, None)


async def test_per_ip_throttle_refuses_past_the_rate_and_spares_other_addresses(
    make_world: Any, database_url: str
) -> None:
    world: World = make_world(database_url, ip_login_rate="2/minute", max_login_failures=10)
    customer_id, _ = await world.customers.create("alice", PASSWORD)
    await _refusal(world, "alice", "wrong")
    assert await world.customers.verify_password("alice", PASSWORD, IP) == customer_id
    throttled = await _refusal(world, "alice", PASSWORD)
    assert throttled.reason == "throttled"
    assert throttled.retry_after is not None and throttled.retry_after >= 1
    # an unknown username is throttled the same way, before any lookup
    assert (await _refusal(world, "nobody", "x")).reason == "throttled"
    assert await world.customers.verify_password("alice", PASSWORD, "198.51.100.10") == customer_id


def test_throttle_key_is_the_ipv6_64_or_the_ipv4_address() -> None:
    assert throttle_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert throttle_key("2001:DB8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert throttle_key("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert throttle_key("fe80::1%eth0") == "fe80::/64"
    assert throttle_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert throttle_key("192.0.2.1") == "192.0.2.1"
    assert throttle_key("unknown") == "unknown"


async def test_per_ip_throttle_counts_every_address_of_one_ipv6_64_together(
    make_world: Any, database_url: str
) -> None:
    """A client that rotates the interface id of its IPv6 address gets no fresh allowance: the /64 is
    one bucket (RFC 6177 §2, RFC 4291 §2.5.1); the next /64 is another."""
    world: World = make_world(database_url, ip_login_rate="2/minute", max_login_failures=10)
    customer_id, _ = await world.customers.create("alice", PASSWORD)
    assert (await _refusal(world, "alice", "wrong", "2001:db8:1:2::1")).reason == "invalid"
    assert await world.customers.verify_password("alice", PASSWORD, "2001:db8:1:2::2") == customer_id
    throttled = await _refusal(world, "alice", PASSWORD, "2001:db8:1:2:abcd:ef01:2345:6789")
    assert throttled.reason == "throttled"
    assert throttled.retry_after is not None and throttled.retry_after >= 1
    assert await world.customers.verify_password("alice", PASSWORD, "2001:db8:1:3::1") == customer_id


async def test_per_ip_throttle_counts_an_ipv4_mapped_address_as_its_ipv4_address(
    make_world: Any, database_url: str
) -> None:
    world: World = make_world(database_url, ip_login_rate="2/minute", max_login_failures=10)
    customer_id, _ = await world.customers.create("alice", PASSWORD)
    assert await world.customers.verify_password("alice", PASSWORD, "192.0.2.1") == customer_id
    assert await world.customers.verify_password("alice", PASSWORD, "::ffff:192.0.2.1") == customer_id
    assert (await _refusal(world, "alice", PASSWORD, "192.0.2.1")).reason == "throttled"


async def test_create_refuses_a_taken_or_malformed_username(world: World) -> None:
    await world.customers.create("alice", PASSWORD)
    with pytest.raises(CustomerError, match="taken"):
        await world.customers.create("alice", "other")
    with pytest.raises(CustomerError):
        await world.customers.create("al ice", "x")
    with pytest.raises(CustomerError):
        await world.customers.create("bob", "")


async def test_totp_secret_is_sealed_at_rest_to_its_customer(world: World) -> None:
    customer_id, secret = await world.customers.create("alice", PASSWORD)
    other_id, _ = await world.customers.create("bob", PASSWORD)
    row = await _row(world, customer_id)
    assert row.totp_sealed is not None and secret.encode() not in row.totp_sealed
    assert world.customers.sealer.open(row.totp_sealed, totp_context(customer_id)).decode() == secret
    with pytest.raises(Exception):  # noqa: B017 - AES-GCM refuses another record's context
        world.customers.sealer.open(row.totp_sealed, totp_context(other_id))


async def test_totp_right_code_is_accepted_once(world: World) -> None:
    customer_id, secret = await world.customers.create("alice", PASSWORD)
    code = totp.code_at(secret, totp.current_step())
    assert await world.customers.verify_totp(customer_id, code) is True
    assert await world.customers.verify_totp(customer_id, code) is False  # RFC 6238 §5.2


async def test_totp_wrong_or_malformed_code_is_refused(world: World) -> None:
    customer_id, secret = await world.customers.create("alice", PASSWORD)
    right = totp.code_at(secret, totp.current_step())
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for code in (wrong, "", "12345", "1234567", "abcdef", right + "0"):
        assert await world.customers.verify_totp(customer_id, code) is False
    assert await world.customers.verify_totp("cus_unknown", right) is False


async def test_totp_accepts_one_step_either_side_but_not_two(world: World) -> None:
    customer_id, secret = await world.customers.create("alice", PASSWORD)
    here = totp.current_step()
    assert await world.customers.verify_totp(customer_id, totp.code_at(secret, here - 2)) is False
    assert await world.customers.verify_totp(customer_id, totp.code_at(secret, here + 2)) is False
    assert await world.customers.verify_totp(customer_id, totp.code_at(secret, here - 1)) is True
    assert await world.customers.verify_totp(customer_id, totp.code_at(secret, here + 1)) is True


async def test_totp_an_earlier_step_after_a_later_one_is_refused(world: World) -> None:
    customer_id, secret = await world.customers.create("alice", PASSWORD)
    here = totp.current_step()
    assert await world.customers.verify_totp(customer_id, totp.code_at(secret, here + 1)) is True
    assert await world.customers.verify_totp(customer_id, totp.code_at(secret, here)) is False
    async with world.db.read() as session:
        last = (await session.execute(select(Customer.totp_last_step))).scalar()
    assert last == here + 1


async def test_totp_two_concurrent_submissions_of_one_code_one_wins(world: World) -> None:
    customer_id, secret = await world.customers.create("alice", PASSWORD)
    code = totp.code_at(secret, totp.current_step())
    results = await asyncio.gather(*(world.customers.verify_totp(customer_id, code) for _ in range(4)))
    assert sorted(results) == [False, False, False, True]


def test_totp_codes_match_rfc_6238_sha1_test_vectors() -> None:
    # RFC 6238 Appendix B, SHA-1 seed "12345678901234567890", 8-digit values; the last 6 digits are the
    # 6-digit code (RFC 4226 §5.3: the code is the truncated value modulo 10^digits).
    import base64

    secret = base64.b32encode(b"12345678901234567890").decode()
    for time, eight in ((59, "94287082"), (1111111109, "07081804"), (1234567890, "89005924")):
        assert totp.matching_step(secret, eight[-6:], now=time) == time // 30


async def test_per_ip_throttle_holds_across_workers_with_redis(
    make_settings: Any, database_url: str, redis_url: str
) -> None:
    """Two workers (two Customers on one database and one Redis) share the per-IP count."""
    import secrets

    from kaimen.authz.sealing import sealer_for
    from kaimen.identity.password import Passwords
    from kaimen.store.db import Database
    from tests.identity_support import CountingHasher

    settings = make_settings(
        database_url=database_url, redis_url=redis_url, oauth={"ip_login_rate": "2/minute"}
    )
    db = Database(settings.sqlalchemy_url)
    workers = [
        Customers(db, sealer_for(settings), settings, passwords=Passwords(CountingHasher())) for _ in "ab"
    ]
    ip = f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::1"  # a fresh /64 bucket in Redis
    try:
        customer_id, _ = await workers[0].create("alice", PASSWORD)
        assert await workers[0].verify_password("alice", PASSWORD, ip) == customer_id
        assert await workers[1].verify_password("alice", PASSWORD, ip) == customer_id
        with pytest.raises(LoginRefused) as caught:
            await workers[0].verify_password("alice", PASSWORD, ip)
        assert caught.value.reason == "throttled"
    finally:
        for worker in workers:
            await worker.close()
        await db.dispose()


async def test_a_hash_made_with_weaker_costs_is_upgraded_at_the_next_login(world: World) -> None:
    from argon2 import PasswordHasher

    customer_id, _ = await world.customers.create("alice", PASSWORD)
    weak = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash(PASSWORD)
    async with world.db.write() as session:
        await session.execute(update(Customer).where(Customer.id == customer_id).values(password_hash=weak))
    assert await world.customers.verify_password("alice", PASSWORD, IP) == customer_id
    stored = (await _row(world, customer_id)).password_hash
    assert stored != weak and "m=1024" in stored


async def test_reset_password_and_read_back_the_totp_secret(world: World) -> None:
    customer_id, secret = await world.customers.create("alice", PASSWORD)
    await world.customers.reset_password("alice", "new password")
    assert (await _refusal(world, "alice", PASSWORD)).reason == "invalid"
    assert await world.customers.verify_password("alice", "new password", IP) == customer_id
    assert await world.customers.totp_secret(customer_id) == secret
    with pytest.raises(CustomerError):
        await world.customers.reset_password("nobody", "x")
    with pytest.raises(CustomerError):
        await world.customers.totp_secret("cus_unknown")
