"""Domestic payment consents as one kind of consent of the authorization flow (kaimen.authz.ports
IntentKind, scope ``payments``), with dynamic linking.

The consent page shows what will be paid: the amount and currency, the payee's name and account, and
the reference (UK OB v3.1.11 Payment Initiation API Profile, "Payment Order Consent": the PSU
authorises exactly the Initiation the PISP sent). The customer chooses the account to pay from
(radios ``debtor_account_id``, DESIGN.md sandbox contract) among their enabled accounts in the
payment's currency, or, when the TPP named a DebtorAccount, only that account. When the consent's
``Data.ReadRefundAccount`` is "Yes" the payment will give the TPP that account's name, sort code and
account number (kaimen.apis.payments.refund_account), so the page tells the customer before they
approve.

PSD2 RTS Art. 5 (dynamic linking): the authentication code is "specific to the amount of the payment
transaction and the payee agreed to by the payer". Kaimen keeps, with the authorised consent, the
SHA-256 of what the customer approved after SCA (``approved_digest``: the Initiation as the consent
holds it, canonical JSON, and the account paid from); the payment step recomputes it from what it is
asked to pay, and any difference needs a new authorisation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from kaimen.apis.payments.consents import DomesticPaymentConsents, PaymentConsent
from kaimen.apis.payments.refund_account import refund_requested
from kaimen.ledger.core import Account, CoreBanking
from kaimen.ledger.errors import AccountNotFound

_SHAREABLE = frozenset({"Enabled"})


def approved_digest(initiation_json: str, debtor_account_id: str) -> str:
    """What the customer approved, as one digest: the Initiation's canonical JSON (kaimen.apis.payments
    .consent_request) and the ledger account paid from."""
    document = orjson.dumps(
        {"Initiation": orjson.loads(initiation_json), "DebtorAccountId": debtor_account_id},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(document).hexdigest()


@dataclass(frozen=True, slots=True)
class PaymentIntent:
    """An IntentView (kaimen.authz.ports) with what the consent page shows of a payment."""

    intent_id: str
    status: str
    expires_at: datetime | None
    amount: str  # OB decimal string, as the TPP sent it
    currency: str
    payee: str
    payee_account: str
    reference: str | None
    debtor: tuple[str, str] | None  # (SchemeName, Identification) when the TPP named the account
    initiation_json: str
    step_up: bool = False  # the consent page asks for a fresh one-time code (risk engine)
    read_refund_account: bool = False  # the TPP will receive the account paid from, to refund
    permissions: tuple[str, ...] = ()
    account_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, consent: PaymentConsent) -> PaymentIntent:
        initiation = consent.initiation
        creditor = initiation.get("CreditorAccount", {})
        remittance = initiation.get("RemittanceInformation", {})
        debtor = initiation.get("DebtorAccount")
        return cls(
            intent_id=consent.consent_id,
            status=consent.status.value,
            expires_at=consent.authorise_by,
            amount=initiation["InstructedAmount"]["Amount"],
            currency=initiation["InstructedAmount"]["Currency"],
            payee=creditor.get("Name") or creditor.get("Identification", ""),
            payee_account=creditor.get("Identification", ""),
            reference=remittance.get("Reference") or remittance.get("Unstructured"),
            debtor=(debtor["SchemeName"], debtor["Identification"]) if debtor else None,
            initiation_json=consent.initiation_json,
            step_up=consent.step_up,
            read_refund_account=refund_requested(consent),
        )


class PaymentIntents:
    """``IntentKind`` for the scope ``payments``: ``PaymentIntents(consents, core)``."""

    choice = "debtor"  # the page offers one account to pay from (radios), not accounts to share

    def __init__(self, consents: DomesticPaymentConsents, core: CoreBanking) -> None:
        self.consents = consents
        self.core = core

    async def for_authorisation(self, intent_id: str, client_id: str) -> PaymentIntent | None:
        consent = await self.consents.for_authorisation(intent_id, client_id)
        return PaymentIntent.of(consent) if consent is not None else None

    def offers(self, intent: Any, account: Account) -> bool:
        if str(account.status) not in _SHAREABLE or account.currency != intent.currency:
            return False
        if intent.debtor is None:
            return True
        return bool((account.scheme_name, account.identification) == intent.debtor)

    async def approve(self, intent: Any, customer_id: str, account_ids: list[str]) -> bool:
        """Exactly one account, the customer's own and one the page offered (read back from the core,
        never taken from the form), then AwaitingAuthorisation -> Authorised with the digest."""
        if len(account_ids) != 1:
            return False
        try:
            account = await self.core.account(customer_id, account_ids[0])
        except AccountNotFound:
            return False
        if not self.offers(intent, account):
            return False
        digest = approved_digest(intent.initiation_json, account.account_id)
        return await self.consents.authorise(intent.intent_id, customer_id, account.account_id, digest)

    async def reject(self, intent: Any) -> bool:
        return await self.consents.reject(intent.intent_id)
