"""Account-access consents as the authorization flow sees them (kaimen.authz.ports.IntentKind): the
consent named by ``openbanking_intent_id`` is checked at PAR and again when the customer answers, and
the customer's answer moves it on.

The UK OB Account and Transaction API Profile, "Consent Authorisation" and "Consent
Re-authentication": a consent may be authorised while AwaitingAuthorisation, and re-authenticated
while Authorised and unexpired; the accounts are chosen by the customer at the bank ("Changes to
Selected Account(s)"). A denied re-authentication leaves the consent as it was: only an
AwaitingAuthorisation consent becomes Rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kaimen.apis.accounts.consent_request import ConsentRequest, DateTimeField
from kaimen.apis.accounts.consents import AccountAccessConsents, Consent, Status
from kaimen.apis.accounts.permissions import SUPPORTED
from kaimen.store.types import utcnow

# OBAccountStatus1Code: the accounts a customer may share (a deleted or pending account has no data
# a TPP could read yet, or any more).
_SHAREABLE = frozenset({"Enabled"})
# A consent minted for a PAR request that names none (conformance testing, README): every permission
# Kaimen serves, for a day.
MINTED_PERMISSIONS = tuple(sorted(SUPPORTED))
MINTED_LIFETIME = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class AccountIntent:
    intent_id: str
    status: str
    expires_at: datetime | None
    permissions: tuple[str, ...]
    account_ids: tuple[str, ...]
    transaction_from: datetime | None
    transaction_to: datetime | None

    @classmethod
    def of(cls, consent: Consent) -> AccountIntent:
        return cls(
            intent_id=consent.consent_id,
            status=consent.status.value,
            expires_at=consent.expiration.at if consent.expiration else None,
            permissions=consent.permissions,
            account_ids=consent.account_ids,
            transaction_from=consent.transaction_from.at if consent.transaction_from else None,
            transaction_to=consent.transaction_to.at if consent.transaction_to else None,
        )


class AccountIntents:
    """The ``accounts`` scope's kind of consent."""

    choice = "accounts"

    def __init__(self, consents: AccountAccessConsents) -> None:
        self.consents = consents

    async def for_authorisation(self, intent_id: str, client_id: str) -> AccountIntent | None:
        consent = await self.consents.get_for_authorisation(intent_id, client_id)
        return AccountIntent.of(consent) if consent is not None else None

    async def mint(self, client_id: str) -> str:
        """A new consent of ``client_id``, AwaitingAuthorisation, as POST /account-access-consents
        would make it with MINTED_PERMISSIONS and an ExpirationDateTime MINTED_LIFETIME from now."""
        expires = (utcnow() + MINTED_LIFETIME).replace(microsecond=0)
        expiration = DateTimeField(expires.isoformat().replace("+00:00", "Z"), expires)
        consent = await self.consents.create(
            client_id, ConsentRequest(MINTED_PERMISSIONS, expiration, None, None)
        )
        return consent.consent_id

    def offers(self, intent: Any, account: Any) -> bool:
        return str(account.status) in _SHAREABLE

    async def approve(self, intent: Any, customer_id: str, account_ids: list[str]) -> bool:
        if not account_ids:
            return False
        if intent.status == Status.AUTHORISED.value:
            return await self.consents.reauthorise(intent.intent_id, customer_id, account_ids)
        return await self.consents.authorise(intent.intent_id, customer_id, account_ids)

    async def reject(self, intent: Any) -> bool:
        if intent.status != Status.AWAITING_AUTHORISATION.value:
            return False
        return await self.consents.reject(intent.intent_id)
