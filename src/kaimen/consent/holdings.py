"""What every TPP holds of one customer, as the dashboard shows it: the TPP's name, what it may see,
for which accounts, until when, and when it last used it.

Each kind of consent (account access, funds confirmation) is one :class:`ConsentKind`
over its own store's two customer-side calls (:class:`CustomerConsents`: ``for_customer`` and
``revoke``); the rest comes from the client registry (names), the ledger (account labels) and the audit
log (the latest successful call made with a token carrying the consent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from kaimen.apis.accounts.consents import Consent as AccountConsent
from kaimen.apis.funds.consents import FundsConsent
from kaimen.audit.store import last_success
from kaimen.identity.i18n import Locale, text
from kaimen.ledger.core import Account, CoreBanking
from kaimen.store.db import Database
from kaimen.store.types import utcnow

ACCOUNTS = "accounts"
FUNDS = "fundsconfirmations"


class CustomerConsents(Protocol):
    """What the dashboard needs of a consent store."""

    async def for_customer(self, customer_id: str) -> Sequence[Any]:
        """The consents ``customer_id`` authorised that still give access (Authorised, unexpired)."""
        ...

    async def revoke(self, consent_id: str, customer_id: str) -> bool:
        """Authorised -> Revoked, only by the customer who authorised it; False otherwise (unknown,
        another customer's, no longer Authorised): the caller cannot tell which."""
        ...


@dataclass(frozen=True, slots=True)
class Held:
    """One consent of one kind, before names and labels are looked up."""

    kind: str
    consent_id: str
    client_id: str
    access: tuple[str, ...]  # text keys of what the TPP may see or do
    account_ids: tuple[str, ...]
    expires_at: datetime | None


class ConsentKind(Protocol):
    name: str  # the form's ``kind`` value

    async def held(self, customer_id: str) -> list[Held]: ...

    async def revoke(self, consent_id: str, customer_id: str) -> bool: ...


class AccountAccess:
    """Account-access consents (UK OB v3.1.11 Account and Transaction API): the TPP sees what the
    consent's Permissions allow, on the accounts the customer chose."""

    name = ACCOUNTS

    def __init__(self, consents: CustomerConsents) -> None:
        self.consents = consents

    async def held(self, customer_id: str) -> list[Held]:
        consents: Sequence[AccountConsent] = await self.consents.for_customer(customer_id)
        return [
            Held(
                kind=self.name,
                consent_id=consent.consent_id,
                client_id=consent.client_id,
                access=tuple("permission." + code for code in consent.permissions),
                account_ids=consent.account_ids,
                expires_at=consent.expiration.at if consent.expiration is not None else None,
            )
            for consent in consents
        ]

    async def revoke(self, consent_id: str, customer_id: str) -> bool:
        return await self.consents.revoke(consent_id, customer_id)


class FundsConfirmation:
    """Funds-confirmation consents (UK OB v3.1.11 Confirmation of Funds API): the TPP may ask whether
    one account holds enough for a payment, and learns only yes or no. One whose ExpirationDateTime
    has passed gives no access any more and is left out."""

    name = FUNDS

    def __init__(self, consents: CustomerConsents) -> None:
        self.consents = consents

    async def held(self, customer_id: str) -> list[Held]:
        consents: Sequence[FundsConsent] = await self.consents.for_customer(customer_id)
        now = utcnow()
        return [
            Held(
                kind=self.name,
                consent_id=consent.consent_id,
                client_id=consent.client_id,
                access=("scope.fundsconfirmations",),
                account_ids=(consent.account_id,) if consent.account_id else (),
                expires_at=consent.expiration.at if consent.expiration is not None else None,
            )
            for consent in consents
            if consent.expiration is None or consent.expiration.at > now
        ]

    async def revoke(self, consent_id: str, customer_id: str) -> bool:
        return await self.consents.revoke(consent_id, customer_id)


class ClientNames(Protocol):
    async def get(self, client_id: str) -> Any: ...  # has ``name``; or None


@dataclass(frozen=True, slots=True)
class Holding:
    """One consent as the customer sees it."""

    kind: str
    consent_id: str
    client_name: str
    access: tuple[str, ...]  # text keys
    accounts: tuple[Account | str, ...]  # the ledger's account, or the id of one it no longer has
    expires_at: datetime | None
    last_used: datetime | None


class Holdings:
    def __init__(
        self, kinds: Sequence[ConsentKind], clients: ClientNames, core: CoreBanking, db: Database
    ) -> None:
        self.kinds = {kind.name: kind for kind in kinds}
        self.clients = clients
        self.core = core
        self.db = db

    async def of(self, customer_id: str) -> list[Holding]:
        """Every consent of every kind that gives a TPP access to ``customer_id``'s data, by TPP name."""
        held = [item for kind in self.kinds.values() for item in await kind.held(customer_id)]
        if not held:
            return []
        accounts = {account.account_id: account for account in await self.core.accounts(customer_id)}
        used = await last_success(self.db, [item.consent_id for item in held])
        names: dict[str, str] = {}
        for client_id in {item.client_id for item in held}:
            client = await self.clients.get(client_id)
            names[client_id] = str(client.name) if client is not None else client_id
        holdings = [
            Holding(
                kind=item.kind,
                consent_id=item.consent_id,
                client_name=names[item.client_id],
                access=item.access,
                accounts=tuple(accounts.get(account_id, account_id) for account_id in item.account_ids),
                expires_at=item.expires_at,
                last_used=used.get(item.consent_id),
            )
            for item in held
        ]
        return sorted(holdings, key=lambda h: (h.client_name.casefold(), h.consent_id))

    async def revoke(self, kind: str, consent_id: str, customer_id: str) -> bool:
        """Revoke one of ``customer_id``'s consents; False for an unknown kind or a consent that is not
        theirs to revoke (never says which)."""
        found = self.kinds.get(kind)
        return found is not None and await found.revoke(consent_id, customer_id)


def access_text(locale: Locale, key: str) -> str:
    """The plain words of an access key; the key's own code when no text exists for it yet."""
    try:
        return text(locale, key)
    except KeyError:
        return key.rpartition(".")[2]


def account_label(locale: Locale, account: Account | str) -> str:
    """The customer's own words for an account: nickname or kind, and the last four digits."""
    if isinstance(account, str):
        return text(locale, "dashboard.account_closed")
    name = account.nickname or access_text(locale, "dashboard.subtype." + account.account_subtype.value)
    return text(locale, "dashboard.account", name=name, last4=account.identification[-4:])
