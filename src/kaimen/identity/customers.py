"""The bank's customers: create them, check their password and one-time code, lock and unlock them.

Login is two steps and the counters see both: a wrong password, code or passkey is one failure of the
customer (kaimen.identity.throttle); the counters are reset only when the second factor succeeds, so
knowing the password never buys more guesses at the code.

Every guess is claimed in the customer's row before it is checked (``claim``): the claim counts it as
a failure up front, and the claim that uses up the allowance locks the customer there and then. So
however many guesses arrive at once, in however many workers, at most ``max_login_failures`` of them
are ever checked per lock (issue 3, item 5: "failed attempts throttled per customer ... then locked
with back-off"). A right password gives its claim back (``release``); a right second factor resets
the counters (``record_success``), but not a lock that other guesses, claimed after it, imposed.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from kaimen.authz.sealing import Sealer
from kaimen.identity import totp
from kaimen.identity.password import Passwords
from kaimen.identity.throttle import IpThrottle, lock_duration
from kaimen.settings import Settings
from kaimen.store.db import Database
from kaimen.store.identity_models import Customer
from kaimen.store.types import utcnow

T = TypeVar("T")

Reason = Literal["invalid", "locked", "throttled"]
_USERNAME = re.compile(r"^[^\x00-\x20\x7f]{1,100}$")


class CustomerError(Exception):
    """An operator's request about customers could not be carried out (message says why)."""


class LoginRefused(Exception):
    """A login attempt was refused. ``invalid``: wrong username, password, code or passkey (never says
    which); ``locked``: too many failures, wait ``retry_after`` seconds; ``throttled``: too many
    attempts from this address."""

    def __init__(self, reason: Reason, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.reason: Reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class CustomerView:
    id: str
    username: str
    display_name: str
    failed_logins: int
    locks: int
    locked_until: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    """One guess the customer's allowance let through to be checked, already counted as a failure.

    ``locks`` is the customer's lock count once the guess was claimed; ``locked_until`` is set when
    this guess was the last one allowed and so locked the customer."""

    customer_id: str
    locks: int
    locked_until: datetime | None

    def refused(self) -> LoginRefused:
        """The answer to this guess when it turns out wrong: it was counted when it was claimed."""
        if self.locked_until is None:
            return LoginRefused("invalid")
        return LoginRefused("locked", _seconds_until(self.locked_until))


def _view(row: Customer) -> CustomerView:
    return CustomerView(
        row.id, row.username, row.display_name, row.failed_logins, row.locks, row.locked_until, row.created_at
    )


def totp_context(customer_id: str) -> str:
    """Associated data of a sealed TOTP secret: it opens only in its own customer's row."""
    return f"totp:{customer_id}"


def _seconds_until(moment: datetime) -> int:
    return max(1, int((moment - utcnow()).total_seconds() + 0.999))


class Customers:
    def __init__(
        self,
        db: Database,
        sealer: Sealer,
        settings: Settings,
        *,
        passwords: Passwords | None = None,
        throttle: IpThrottle | None = None,
    ) -> None:
        self.db = db
        self.sealer = sealer
        self.max_failures = settings.oauth.max_login_failures
        self.lock_seconds = settings.oauth.lock_seconds
        self.passwords = passwords or Passwords()
        self.throttle = throttle or IpThrottle(settings)

    async def create(self, username: str, password: str, display_name: str | None = None) -> tuple[str, str]:
        """A new customer; returns (customer id, TOTP secret in base32). The secret is shown once: only
        its sealed form is stored."""
        if not _USERNAME.match(username):
            raise CustomerError("a username is 1 to 100 characters without spaces or control characters")
        if not password:
            raise CustomerError("the password must not be empty")
        customer_id = "cus_" + secrets.token_hex(16)
        secret = totp.new_secret()
        row = Customer(
            id=customer_id,
            username=username,
            display_name=display_name or username,
            password_hash=await asyncio.to_thread(self.passwords.hash, password),
            totp_sealed=self.sealer.seal(secret.encode(), totp_context(customer_id)),
            totp_last_step=0,
            failed_logins=0,
            locks=0,
        )
        try:
            async with self.db.write() as session:
                session.add(row)
        except IntegrityError:
            raise CustomerError(f"username {username!r} is taken") from None
        return customer_id, secret

    async def get(self, customer_id: str) -> CustomerView | None:
        async with self.db.read() as session:
            row = await session.get(Customer, customer_id)
        return _view(row) if row else None

    async def list(self) -> list[CustomerView]:
        async with self.db.read() as session:
            rows = (await session.execute(select(Customer).order_by(Customer.username))).scalars()
            return [_view(row) for row in rows]

    async def verify_password(self, username: str, password: str, client_ip: str) -> str:
        """The customer id when ``password`` is right; otherwise LoginRefused."""
        await self.check_ip(client_ip)
        async with self.db.read() as session:
            row = (await session.execute(select(Customer).where(Customer.username == username))).scalar()
        # Argon2 is deliberately slow (tens of ms): it runs in a thread, off the event loop.
        if row is None:
            await asyncio.to_thread(self.passwords.verify_dummy, password)
            raise LoginRefused("invalid")
        attempt = await self.claim(row.id)
        if not await asyncio.to_thread(self.passwords.verify, row.password_hash, password):
            raise attempt.refused()
        await self.release(attempt)  # a right password is no failure, and no success yet either
        if self.passwords.needs_rehash(row.password_hash):  # the operator raised the Argon2 costs
            fresh = await asyncio.to_thread(self.passwords.hash, password)
            async with self.db.write() as session:
                await session.execute(
                    update(Customer).where(Customer.id == row.id).values(password_hash=fresh)
                )
        return row.id

    async def check_ip(self, client_ip: str) -> None:
        verdict = await self.throttle.attempt(client_ip)
        if not verdict.allowed:
            raise LoginRefused("throttled", verdict.retry_after)

    async def second_factor(
        self, customer_id: str, client_ip: str, check: Callable[[], Awaitable[T]]
    ) -> tuple[Attempt, T]:
        """A code or passkey guess: the address is not throttled and the guess is claimed from the
        customer's allowance (``claim``) before ``check`` runs; a falsy answer of ``check`` is a wrong
        guess (LoginRefused, counted). The caller ends a right one with ``record_success`` or
        ``release``."""
        await self.check_ip(client_ip)
        attempt = await self.claim(customer_id)
        answer = await check()
        if not answer:
            raise attempt.refused()
        return attempt, answer

    async def one_time_code(self, customer_id: str, client_ip: str, code: str) -> Attempt:
        """:meth:`second_factor` with an RFC 6238 code (:meth:`verify_totp`)."""
        attempt, _ = await self.second_factor(
            customer_id, client_ip, lambda: self.verify_totp(customer_id, code)
        )
        return attempt

    async def claim(self, customer_id: str) -> Attempt:
        """Count one guess as a failure before it is checked; LoginRefused ``locked`` when the customer
        is locked, ``invalid`` for an unknown customer. The row is locked for the read and the update
        (FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite), so concurrent claims, in any worker,
        take turns: the ``max_login_failures``-th claim locks the customer, each lock twice as long as
        the one before, and every later claim is refused until the lock runs out."""
        async with self.db.write() as session:
            row = (
                await session.execute(select(Customer).where(Customer.id == customer_id).with_for_update())
            ).scalar()
            if row is None:
                raise LoginRefused("invalid")
            now = utcnow()
            if row.locked_until is not None and row.locked_until > now:
                raise LoginRefused("locked", _seconds_until(row.locked_until))
            row.failed_logins += 1
            locked_until = None
            if row.failed_logins >= self.max_failures:
                locked_until = now + lock_duration(self.lock_seconds, row.locks)
                row.locked_until = locked_until
                row.locks += 1
                row.failed_logins = 0
            return Attempt(customer_id, row.locks, locked_until)

    async def release(self, attempt: Attempt) -> None:
        """The guess was right but ends no login (a password, a step-up code): it was no failure, so
        its claim is given back. Not when a lock was imposed since by other guesses (``locks`` moved
        on): those failures, counted with this claim's, stand."""
        if attempt.locked_until is None:
            values: dict[str, object] = {"failed_logins": Customer.failed_logins - 1}
            still = Customer.failed_logins > 0
        else:  # this claim locked the customer: undo the lock it imposed
            values = {
                "failed_logins": self.max_failures - 1,
                "locks": attempt.locks - 1,
                "locked_until": None,
            }
            still = Customer.locked_until == attempt.locked_until
        async with self.db.write() as session:
            await session.execute(
                update(Customer)
                .where(Customer.id == attempt.customer_id, Customer.locks == attempt.locks, still)
                .values(**values)
            )

    async def record_success(self, attempt: Attempt) -> None:
        """Both factors passed: the failure count and the back-off start again, unless other guesses
        claimed after this one locked the customer meanwhile (their lock stands)."""
        async with self.db.write() as session:
            await session.execute(
                update(Customer)
                .where(Customer.id == attempt.customer_id, Customer.locks == attempt.locks)
                .values(failed_logins=0, locks=0, locked_until=None)
            )

    async def verify_totp(self, customer_id: str, code: str) -> bool:
        """RFC 6238 with each time step usable once: the matched step is recorded with a conditional
        UPDATE that succeeds only for a step later than the last one accepted, so of two workers
        checking the same code at once exactly one wins."""
        async with self.db.read() as session:
            row = await session.get(Customer, customer_id)
        if row is None or row.totp_sealed is None:
            return False
        secret = self.sealer.open(row.totp_sealed, totp_context(customer_id)).decode()
        step = totp.matching_step(secret, code)
        if step is None:
            return False
        async with self.db.write() as session:
            result = await session.execute(
                update(Customer)
                .where(Customer.id == customer_id, Customer.totp_last_step < step)
                .values(totp_last_step=step)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def reset_password(self, username: str, password: str) -> None:
        """Set a new password (operator and demo path); CustomerError for an unknown username."""
        if not password:
            raise CustomerError("the password must not be empty")
        fresh = await asyncio.to_thread(self.passwords.hash, password)
        async with self.db.write() as session:
            result = await session.execute(
                update(Customer).where(Customer.username == username).values(password_hash=fresh)
            )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise CustomerError(f"no customer named {username!r}")

    async def totp_secret(self, customer_id: str) -> str:
        """The customer's TOTP secret, unsealed (the sandbox demo hands it out in its credentials file)."""
        async with self.db.read() as session:
            row = await session.get(Customer, customer_id)
        if row is None or row.totp_sealed is None:
            raise CustomerError(f"no TOTP secret for customer {customer_id!r}")
        return self.sealer.open(row.totp_sealed, totp_context(customer_id)).decode()

    async def unlock(self, username: str) -> bool:
        """Clear the lock and the counters (``kaimen customers unlock``); False for an unknown username."""
        async with self.db.write() as session:
            result = await session.execute(
                update(Customer)
                .where(Customer.username == username)
                .values(failed_logins=0, locks=0, locked_until=None)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def close(self) -> None:
        await self.throttle.close()
