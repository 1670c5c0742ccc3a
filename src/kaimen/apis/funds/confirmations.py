"""The funds check behind POST /funds-confirmations (UK OB v3.1.11 Confirmation of Funds API), one
named step after another, once the token's consent is known to be active and its own:

    same_consent   Data.ConsentId is the token's consent (else 400 UK.OBIE.Resource.ConsentMismatch)
    account        the consent's DebtorAccount as the core knows it now, the customer's (an account
                   closed or moved since is the consent no longer usable: 403
                   UK.OBIE.Resource.InvalidConsentStatus)
    same_currency  InstructedAmount.Currency is that account's (else 400 UK.OBIE.Unsupported.Currency)
    check          ``CoreBanking.funds_available``: a yes or a no, nothing else about the account
    record         the answer kept in ``funds_confirmations`` (audit), then returned

FundsConfirmationIds are 192 random bits within the spec's maxLength 40 (STYLE.md).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from kaimen.apis.funds.consents import FundsConsent
from kaimen.apis.funds.errors import ConsentIdMismatch, ConsentNotActive, UnsupportedCurrency
from kaimen.apis.funds.models import FundsConfirmation
from kaimen.apis.funds.requests import AMOUNT, FundsCheckRequest, InstructedAmount
from kaimen.ledger.core import Account, CoreBanking
from kaimen.ledger.errors import AccountNotFound
from kaimen.store.db import Database
from kaimen.store.types import utcnow

ID_PREFIX = "fc-"


@dataclass(frozen=True, slots=True)
class FundsCheck:
    """OBFundsConfirmationResponse1 Data."""

    funds_confirmation_id: str
    consent_id: str
    created_at: datetime
    funds_available: bool
    reference: str
    amount: InstructedAmount


def new_confirmation_id() -> str:
    return ID_PREFIX + secrets.token_urlsafe(24)


def same_consent(request: FundsCheckRequest, consent: FundsConsent) -> None:
    if request.consent_id != consent.consent_id:
        raise ConsentIdMismatch(
            "Data.ConsentId is not the consent the access token was issued for", path="Data.ConsentId"
        )


async def account(core: CoreBanking, consent: FundsConsent) -> Account:
    assert consent.customer_id is not None and consent.account_id is not None  # Authorised
    try:
        return await core.account(consent.customer_id, consent.account_id)
    except AccountNotFound:
        raise ConsentNotActive("the consent's debtor account is no longer available") from None


def same_currency(request: FundsCheckRequest, debtor: Account) -> None:
    if request.amount.currency != debtor.currency:
        raise UnsupportedCurrency(
            "Currency is not the currency of the consent's debtor account", path=f"{AMOUNT}.Currency"
        )


class FundsConfirmations:
    def __init__(self, db: Database, core: CoreBanking) -> None:
        self.db = db
        self.core = core

    async def confirm(self, consent: FundsConsent, request: FundsCheckRequest) -> FundsCheck:
        same_consent(request, consent)
        debtor = await account(self.core, consent)
        same_currency(request, debtor)
        available = await self.core.funds_available(
            debtor.customer_id, debtor.account_id, request.amount.money
        )
        return await self.record(consent, debtor, request, available)

    async def record(
        self, consent: FundsConsent, debtor: Account, request: FundsCheckRequest, available: bool
    ) -> FundsCheck:
        row = FundsConfirmation(
            id=new_confirmation_id(),
            consent_id=consent.consent_id,
            client_id=consent.client_id,
            customer_id=debtor.customer_id,
            account_id=debtor.account_id,
            reference=request.reference,
            amount_text=request.amount.text,
            amount_minor=request.amount.money.minor,
            currency=request.amount.currency,
            funds_available=available,
            created_at=utcnow(),
        )
        async with self.db.write() as session:
            session.add(row)
        return FundsCheck(
            row.id, row.consent_id, row.created_at, available, request.reference, request.amount
        )
