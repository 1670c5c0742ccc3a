"""The domestic payment endpoints, the TPP's side (UK OB v3.1.11 spec file
payment-initiation-openapi.json):

    POST /domestic-payments        customer_token -> json_body -> signature verified -> idempotency_key
                                   -> read_domestic_payment_request -> replay? -> consent_for_payment
                                   -> risk check -> submit (one transaction) -> refund account
                                   -> 201 OBWriteDomesticResponse5
    GET  /domestic-payments/{DomesticPaymentId}
                                   tpp_client -> unsigned -> owned payment -> refund account
                                   -> 200 OBWriteDomesticResponse5
    GET  /domestic-payments/{DomesticPaymentId}/payment-details
                                   tpp_client -> unsigned -> owned payment
                                   -> 200 OBWritePaymentDetailsResponse1

Security per the spec file: the POST is PSUOAuth2Security (the token the customer authorised for the
consent), the GETs TPPOAuth2Security (the TPP's client credentials token). Another TPP's
DomesticPaymentId answers exactly as an unknown one. Every answer is signed by kaimen.jws.responses.
Data.Refund and Data.Debtor, when the consent asked for them: kaimen.apis.payments.refund_account.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kaimen.apis.accounts.resource import MEDIA_TYPE, json_body
from kaimen.apis.payments.access import customer_token, signature, tpp_client, unsigned
from kaimen.apis.payments.consents import DomesticPaymentConsents, PaymentConsent, Status
from kaimen.apis.payments.errors import PaymentNotFound, PaymentOfAnotherParty
from kaimen.apis.payments.idempotency import idempotency_key
from kaimen.apis.payments.payment_checks import consent_for_payment
from kaimen.apis.payments.payment_record import Payment, new_payment_id
from kaimen.apis.payments.payment_request import read_domestic_payment_request
from kaimen.apis.payments.payments import DomesticPayments
from kaimen.apis.payments.refund_account import RefundAccounts
from kaimen.apis.payments.resource import BASE_PATH
from kaimen.apis.payments.risk_check import PaymentRisk, PaymentRiskContext, PaymentRiskDecision
from kaimen.gateway.context import Call
from kaimen.jws.verify import RequestSignatures
from kaimen.store.types import utcnow

PAYMENTS_PATH = f"{BASE_PATH}/domestic-payments"
_JSON_HEADERS = {"content-type": MEDIA_TYPE}


def payment_document(payment: Payment, base_url: str, refund: dict[str, Any] | None = None) -> dict[str, Any]:
    """OBWriteDomesticResponse5: the Initiation as the consent holds it (it equals the payment's);
    date-times with their zone; ``refund``'s Refund and Debtor (RefundAccounts.members) when given."""
    data: dict[str, Any] = {
        "DomesticPaymentId": payment.payment_id,
        "ConsentId": payment.consent_id,
        "CreationDateTime": payment.created_at.isoformat(),
        "Status": payment.status.value,
        "StatusUpdateDateTime": payment.status_updated_at.isoformat(),
        "Initiation": payment.initiation,
        **(refund or {}),
    }
    return {
        "Data": data,
        "Links": {"Self": f"{base_url}{PAYMENTS_PATH}/{payment.payment_id}"},
        "Meta": {},
    }


def details_document(payment: Payment, base_url: str) -> dict[str, Any]:
    """OBWritePaymentDetailsResponse1: one PaymentStatus, the ledger's TransactionId once posted (else
    the DomesticPaymentId), and for a Rejected or Pending payment the StatusDetail with its reason."""
    status: dict[str, Any] = {
        "PaymentTransactionId": payment.transaction_id or payment.payment_id,
        "Status": payment.status.value,
        "StatusUpdateDateTime": payment.status_updated_at.isoformat(),
    }
    if payment.status_reason is not None:
        detail: dict[str, Any] = {"Status": payment.status.value, "StatusReason": payment.status_reason.value}
        if payment.status_reason_description:
            detail["StatusReasonDescription"] = payment.status_reason_description
        local_instrument = payment.initiation.get("LocalInstrument")
        if local_instrument is not None:
            detail["LocalInstrument"] = local_instrument
        status["StatusDetail"] = detail
    return {
        "Data": {"PaymentStatus": [status]},
        "Links": {"Self": f"{base_url}{PAYMENTS_PATH}/{payment.payment_id}/payment-details"},
        "Meta": {},
    }


def _json(document: dict[str, Any], status: int) -> Response:
    return Response(orjson.dumps(document), status_code=status, headers=_JSON_HEADERS)


class DomesticPaymentsResource:
    def __init__(
        self,
        consents: DomesticPaymentConsents,
        payments: DomesticPayments,
        signatures: RequestSignatures,
        risk: PaymentRisk,
        refunds: RefundAccounts,
        base_url: str,
    ) -> None:
        self.consents = consents
        self.payments = payments
        self.signatures = signatures
        self.risk = risk
        self.refunds = refunds
        self.base_url = base_url

    async def create_payment(self, request: Request) -> Response:
        """201 for a new payment and for a replay of its idempotency key with the same body alike
        (Read/Write Data API Profile, "Idempotency": "respond to the request with the current status
        of the resource ... and a HTTP status code of 201 (Created)"), whatever its Status."""
        token = customer_token(request)
        body = await json_body(request)
        await self.signatures.verify(signature(request), body, token.client_id)
        key = idempotency_key(request)
        order = read_domestic_payment_request(body)
        payment = await self.payments.replay(token.client_id, key, order)
        consent: PaymentConsent | None = None
        if payment is None:
            consent = await consent_for_payment(self.consents, token, order)
            payment_id = new_payment_id()
            decision: PaymentRiskDecision | None = None
            if consent.status is Status.AUTHORISED:
                decision = await self.risk.assess_payment(self._context(request, consent, payment_id))
            payment = await self.payments.submit(token.client_id, key, order, consent, decision, payment_id)
        refund = await self.refunds.members(payment, consent)
        return _json(payment_document(payment, self.base_url, refund), 201)

    async def read_payment(self, request: Request) -> Response:
        payment = await self._owned(request)
        refund = await self.refunds.members(payment)
        return _json(payment_document(payment, self.base_url, refund), 200)

    async def payment_details(self, request: Request) -> Response:
        payment = await self._owned(request)
        return _json(details_document(payment, self.base_url), 200)

    async def _owned(self, request: Request) -> Payment:
        client_id = tpp_client(request)
        unsigned(request)
        payment_id = request.path_params["DomesticPaymentId"]
        payment = await self.payments.get(payment_id, client_id)
        if payment is None:
            if await self.payments.held_by_another(payment_id, client_id):
                raise PaymentOfAnotherParty(
                    "this domestic-payment is another TPP's", path="DomesticPaymentId"
                )
            raise PaymentNotFound("no domestic-payment with this DomesticPaymentId", path="DomesticPaymentId")
        return payment

    @staticmethod
    def _context(request: Request, consent: PaymentConsent, payment_id: str) -> PaymentRiskContext:
        call: Call = request.scope["kaimen"]
        creditor = consent.initiation["CreditorAccount"]
        assert consent.customer_id is not None and consent.debtor_account_id is not None  # Authorised
        return PaymentRiskContext(
            subject_id=payment_id,
            customer_id=consent.customer_id,
            client_id=consent.client_id,
            consent_id=consent.consent_id,
            consent_created_at=consent.created_at,
            debtor_account_id=consent.debtor_account_id,
            amount_minor=consent.amount.minor,
            currency=consent.amount.currency,
            creditor_scheme=creditor["SchemeName"],
            creditor_identification=creditor["Identification"],
            creditor_name=creditor["Name"],
            customer_ip=call.customer_ip,
            device=request.headers.get("x-customer-user-agent"),
            payment_context_code=consent.risk.get("PaymentContextCode"),
            merchant_category_code=consent.risk.get("MerchantCategoryCode"),
            risk=consent.risk,
            interaction_id=call.interaction_id,
            at=utcnow(),
        )
