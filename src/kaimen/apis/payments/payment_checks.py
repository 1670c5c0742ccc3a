"""The checks between a domestic payment and its consent, one named step after another, run after the
body is read (kaimen.apis.payments.payment_request) and before the risk check:

1. ``token_consent``  the access token is the one the customer authorised for Data.ConsentId (the
                      spec file's security for POST /domestic-payments is PSUOAuth2Security,
                      authorizationCode): else 403 UK.OBIE.Resource.ConsentMismatch;
2. ``owned``          the consent is this TPP's: another TPP's ConsentId answers as an unknown one,
                      400 UK.OBIE.Resource.NotFound;
3. ``status``         "A domestic-payment can only be created if its corresponding
                      domestic-payment-consent resource has the status of 'Authorised'" (UK OB v3.1.11
                      Domestic Payments, POST /domestic-payments): AwaitingAuthorisation or Rejected,
                      403 UK.OBIE.Resource.InvalidConsentStatus. A Consumed consent passes here: the
                      write transaction either finds a replay of the same idempotency key (a racing
                      twin) or refuses it the same way (kaimen.apis.payments.payments);
4. ``customer``       authorised by the customer the token carries: else 403 ConsentMismatch;
5. ``same_payment``   Initiation and Risk equal the consent's, compared as canonical JSON: else 400
                      UK.OBIE.Resource.ConsentMismatch (PaymentConsentMismatch quotes the MUST);
6. ``approved``       dynamic linking (PSD2 RTS Art. 5): the digest of this Initiation and the account
                      the customer chose, recomputed now, equals the one stored when they approved it
                      with SCA, compared in constant time; else 400 ConsentMismatch.
"""

from __future__ import annotations

import hmac

from kaimen.apis.payments.consents import DomesticPaymentConsents, PaymentConsent, Status
from kaimen.apis.payments.errors import (
    ConsentNotActive,
    ConsentNotFound,
    ConsentOfAnotherParty,
    PaymentConsentMismatch,
)
from kaimen.apis.payments.intents import approved_digest
from kaimen.apis.payments.payment_request import DomesticPaymentRequest
from kaimen.authz.tokens import AccessToken

_PAYABLE = frozenset({Status.AUTHORISED, Status.CONSUMED})


async def consent_for_payment(
    consents: DomesticPaymentConsents, token: AccessToken, order: DomesticPaymentRequest
) -> PaymentConsent:
    token_consent(token, order)
    consent = await owned(consents, token, order)
    status(consent)
    customer(consent, token)
    same_payment(consent, order)
    approved(consent, order)
    return consent


def token_consent(token: AccessToken, order: DomesticPaymentRequest) -> None:
    if token.consent_id != order.consent_id:
        raise ConsentOfAnotherParty("the access token was not issued for this consent")


async def owned(
    consents: DomesticPaymentConsents, token: AccessToken, order: DomesticPaymentRequest
) -> PaymentConsent:
    consent = await consents.get(order.consent_id, token.client_id)
    if consent is None:
        raise ConsentNotFound("no domestic-payment-consent with this ConsentId", path="Data.ConsentId")
    return consent


def status(consent: PaymentConsent) -> None:
    if consent.status not in _PAYABLE:
        raise ConsentNotActive("the consent is not Authorised")


def customer(consent: PaymentConsent, token: AccessToken) -> None:
    if consent.customer_id is None or consent.customer_id != token.customer_id:
        raise ConsentOfAnotherParty("the consent was not authorised by this customer")


def same_payment(consent: PaymentConsent, order: DomesticPaymentRequest) -> None:
    if order.initiation != consent.initiation_json:
        raise PaymentConsentMismatch(
            "Data.Initiation differs from the consent's Initiation", path="Data.Initiation"
        )
    if order.risk != consent.risk_json:
        raise PaymentConsentMismatch("Risk differs from the consent's Risk", path="Risk")


def approved(consent: PaymentConsent, order: DomesticPaymentRequest) -> None:
    if consent.debtor_account_id is None or consent.approved_digest is None:
        raise PaymentConsentMismatch("the customer did not approve this payment")
    now = approved_digest(order.initiation, consent.debtor_account_id)
    if not hmac.compare_digest(now.encode(), consent.approved_digest.encode()):
        raise PaymentConsentMismatch("the payment is not the one the customer approved")
