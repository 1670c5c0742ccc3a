"""Data.Refund and Data.Debtor of a domestic payment (the spec file's OBWriteDomesticResponse5): the
account the payment debited, given to the TPP the customer agreed to give it to.

What UK OB v3.1.11 says, and what Kaimen does with it:

- Domestic Payments, "Domestic Payment - Response", Notes: among what the response holds are the refund
  account details, when the PISP asked for them in the domestic-payment-consent. It asks with the
  consent's ``Data.ReadRefundAccount`` (the spec file: "Specifies to share the refund account details
  with PISP", ``Yes`` or ``No``); absent, it did not ask.
- Data.Refund is OBDomesticRefundAccount1 (Payment Initiation API Profile, "OBDomesticRefundAccount1"):
  ``Account`` with ``SchemeName``, ``Identification`` and ``Name``, each 1..1 (required in the spec
  file; ``Name`` at most 350 characters), and ``SecondaryIdentification`` 0..1 (the core keeps none).
- Data.Debtor: the same Notes say an ASPSP "should conditionally provide ``Debtor/Name``", even when the
  PISP did not name the debtor account; the condition is in the spec file's description of Debtor's
  schema, OBCashAccountDebtor4: it is in the response only when the consent's ReadRefundAccount is
  ``Yes``. Kaimen gives ``Debtor.Name`` alone, the member the Notes name (the account is in Refund).

Both describe the account the payment was debited from, the one the customer picked at the bank or the
one the TPP named (matched to one of the customer's own accounts when they approved), read through
``CoreBanking.account`` for the payment's own customer: never another customer's account (the core
answers ``AccountNotFound`` for those), and always the bank's record, never text the TPP sent. They come
once the money has left the account (the payment has its ledger TransactionId): a Rejected or Pending
payment debited nothing, so there is nothing to refund; a held payment an operator releases has them from
then on. Without the holder's name (Refund.Account.Name is required), or when the core no longer knows
the account, both are left out: no member is ever null.
"""

from __future__ import annotations

from typing import Any

from kaimen.apis.payments.consents import DomesticPaymentConsents, PaymentConsent
from kaimen.apis.payments.payment_record import Payment
from kaimen.ledger.core import CoreBanking
from kaimen.ledger.errors import AccountNotFound

READ_REFUND_ACCOUNT = "ReadRefundAccount"  # an OBWriteDomesticConsent4 Data member, kept in its extras
_YES = "Yes"  # OBReadRefundAccount1Code
_MAX_NAME = 350  # Refund.Account.Name and Debtor.Name maxLength


def refund_requested(consent: PaymentConsent | None) -> bool:
    """Whether the consent a payment was made under asked for the refund account."""
    return consent is not None and consent.extras.get(READ_REFUND_ACCOUNT) == _YES


class RefundAccounts:
    """``members(payment, consent)``: what OBWriteDomesticResponse5's Data adds of the debited account."""

    def __init__(self, consents: DomesticPaymentConsents, core: CoreBanking) -> None:
        self.consents = consents
        self.core = core

    async def members(self, payment: Payment, consent: PaymentConsent | None = None) -> dict[str, Any]:
        """``Refund`` and ``Debtor``, or nothing (see the module's docstring). ``consent`` is the
        payment's, when the caller holds it; else it is read, and only for a payment that debited."""
        if payment.transaction_id is None:  # nothing posted, nothing debited
            return {}
        if consent is None or consent.consent_id != payment.consent_id:
            consent = await self.consents.get(payment.consent_id, payment.client_id)
        if not refund_requested(consent):
            return {}
        try:
            account = await self.core.account(payment.customer_id, payment.debtor_account_id)
        except AccountNotFound:
            return {}
        if not (account.name and account.scheme_name and account.identification):
            return {}
        name = account.name[:_MAX_NAME]
        return {
            "Refund": {
                "Account": {
                    "SchemeName": account.scheme_name,
                    "Identification": account.identification,
                    "Name": name,
                }
            },
            "Debtor": {"Name": name},
        }
