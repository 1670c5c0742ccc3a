"""The funds-confirmation consents as one ``IntentKind`` of the authorization flow (kaimen.authz.ports):
what the flow asks of a consent named by a PAR request's ``openbanking_intent_id`` with the scope
``fundsconfirmations``.

    for_authorisation  this client's own, unexpired consent, AwaitingAuthorisation or (profile,
                       "Consent Re-authentication") Authorised, else None
    offers             the customer's account whose SchemeName + Identification are the consent's
                       DebtorAccount (Confirmation of Funds profile: the consent names one account;
                       the PSU authorises that account, never another)
    approve            exactly one offered account; AwaitingAuthorisation -> Authorised, keeping the
                       customer and that AccountId, or, re-authenticating, the same customer again;
                       True only for the call that made the change
    reject             AwaitingAuthorisation -> Rejected; a denied re-authentication leaves the
                       consent Authorised (as the Account API's, kaimen.apis.accounts.intents)

``approve`` does not take the flow's word for the account: it reads it back from the core as the
customer's and checks ``offers`` again before the conditional UPDATE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kaimen.apis.funds.consents import FundsConfirmationConsents, Status
from kaimen.apis.funds.requests import DebtorAccount
from kaimen.ledger.core import Account, CoreBanking
from kaimen.ledger.errors import AccountNotFound


@dataclass(frozen=True, slots=True)
class FundsIntent:
    """An IntentView (kaimen.authz.ports): a funds consent has no permission codes; its account is
    chosen when authorised, so ``account_ids`` is empty until then and the chosen one when
    re-authenticating. ``debtor_account`` is what the consent page shows and ``offers`` compares."""

    intent_id: str
    status: str
    expires_at: datetime | None
    debtor_account: DebtorAccount
    permissions: tuple[str, ...] = ()
    account_ids: tuple[str, ...] = ()


class FundsIntents:
    """``IntentKind`` for the scope ``fundsconfirmations``: ``FundsIntents(consents, core)``."""

    choice = "accounts"  # the one account the consent names, as a checkbox like the Account API's

    def __init__(self, consents: FundsConfirmationConsents, core: CoreBanking) -> None:
        self.consents = consents
        self.core = core

    async def for_authorisation(self, intent_id: str, client_id: str) -> FundsIntent | None:
        consent = await self.consents.for_authorisation(intent_id, client_id)
        if consent is None:
            return None
        return FundsIntent(
            intent_id=consent.consent_id,
            status=consent.status.value,
            expires_at=consent.expiration.at if consent.expiration else None,
            debtor_account=consent.debtor_account,
            account_ids=(consent.account_id,) if consent.account_id is not None else (),
        )

    def offers(self, intent: FundsIntent, account: Account) -> bool:
        """The account is the DebtorAccount: same SchemeName and same Identification (spec file,
        OBFundsConfirmationConsent1 Data.DebtorAccount), compared exactly as strings."""
        debtor = intent.debtor_account
        return account.scheme_name == debtor.scheme_name and account.identification == debtor.identification

    async def approve(self, intent: FundsIntent, customer_id: str, account_ids: list[str]) -> bool:
        if len(account_ids) != 1:
            return False
        try:
            account = await self.core.account(customer_id, account_ids[0])
        except AccountNotFound:
            return False
        if not self.offers(intent, account):
            return False
        if intent.status == Status.AUTHORISED.value:
            return await self.consents.reauthorise(intent.intent_id, customer_id, account.account_id)
        return await self.consents.authorise(intent.intent_id, customer_id, account.account_id)

    async def reject(self, intent: FundsIntent) -> bool:
        if intent.status != Status.AWAITING_AUTHORISATION.value:
            return False
        return await self.consents.reject(intent.intent_id)
