"""The domestic payment consent endpoints, the TPP's side (UK OB v3.1.11 spec file
payment-initiation-openapi.json):

    POST /domestic-payment-consents          tpp_client -> json_body -> signature verified
                                             -> idempotency_key -> read_domestic_consent_request
                                             -> replay (the key's consent, as it is now) or
                                                completion_ahead -> risk scored -> create
                                             -> 201 OBWriteDomesticConsentResponse5
    GET  /domestic-payment-consents/{ConsentId}
                                             tpp_client -> unsigned -> owned consent
                                             -> 200 OBWriteDomesticConsentResponse5
    GET  /domestic-payment-consents/{ConsentId}/funds-confirmation
                                             customer_token -> unsigned -> owned consent -> the token's
                                             -> Authorised -> funds check
                                             -> 200 OBWriteFundsConfirmationResponse1

Before any of this the gateway has checked the DPoP-bound token and its scope ``payments``; it puts
``x-fapi-interaction-id`` on every answer, and kaimen.jws.responses signs every answer. Refusals are
ApiErrors, rendered as OBErrorResponse1.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kaimen.apis.accounts.resource import MEDIA_TYPE, consent_refusal, json_body
from kaimen.apis.payments.access import customer_token, signature, tpp_client, unsigned
from kaimen.apis.payments.consent_request import (
    DomesticConsentRequest,
    completion_ahead,
    read_domestic_consent_request,
)
from kaimen.apis.payments.consents import (
    DomesticPaymentConsents,
    PaymentConsent,
    Status,
    new_consent_id,
)
from kaimen.apis.payments.errors import ConsentNotActive, ConsentOfAnotherParty
from kaimen.apis.payments.idempotency import idempotency_key
from kaimen.apis.payments.risk_check import ALLOW, REJECT, ConsentRiskContext, PaymentRisk
from kaimen.errors import ApiError
from kaimen.gateway.context import Call
from kaimen.jws.verify import RequestSignatures
from kaimen.ledger.core import CoreBanking
from kaimen.ledger.errors import AccountNotFound
from kaimen.store.types import utcnow

BASE_PATH = "/open-banking/v3.1/pisp"  # the spec file's servers[0].url
CONSENTS_PATH = f"{BASE_PATH}/domestic-payment-consents"
_JSON_HEADERS = {"content-type": MEDIA_TYPE}


def consent_document(consent: PaymentConsent, base_url: str) -> dict[str, Any]:
    """OBWriteDomesticConsentResponse5: Data.Initiation, Risk and Data's other members exactly as the
    TPP sent them; date-times with their zone ("All date-time fields in responses must include the
    timezone"). The ledger account the customer chose is never shown."""
    data: dict[str, Any] = {
        "ConsentId": consent.consent_id,
        "CreationDateTime": consent.created_at.isoformat(),
        "Status": consent.status.value,
        "StatusUpdateDateTime": consent.status_updated_at.isoformat(),
        **consent.extras,
        "Initiation": consent.initiation,
    }
    return {
        "Data": data,
        "Risk": consent.risk,
        "Links": {"Self": f"{base_url}{CONSENTS_PATH}/{consent.consent_id}"},
        "Meta": {"TotalPages": 1},
    }


def _json(document: dict[str, Any], status: int) -> Response:
    return Response(orjson.dumps(document), status_code=status, headers=_JSON_HEADERS)


def _consent_context(
    request: Request, consent_id: str, client_id: str, order: DomesticConsentRequest, at: datetime
) -> ConsentRiskContext:
    """What the risk engine scores of a consent as the TPP creates it (no customer yet), before
    anything of it is written: ``consent_id`` is the id it will have."""
    call: Call = request.scope["kaimen"]
    creditor = orjson.loads(order.initiation)["CreditorAccount"]
    risk = orjson.loads(order.risk)
    return ConsentRiskContext(
        subject_id=consent_id,
        customer_id=None,
        client_id=client_id,
        consent_id=consent_id,
        amount_minor=order.amount.minor,
        currency=order.amount.currency,
        creditor_scheme=creditor["SchemeName"],
        creditor_identification=creditor["Identification"],
        creditor_name=creditor.get("Name"),
        customer_ip=call.customer_ip,
        device=request.headers.get("x-customer-user-agent"),
        payment_context_code=risk.get("PaymentContextCode"),
        merchant_category_code=risk.get("MerchantCategoryCode"),
        at=at,
    )


class PaymentsResource:
    def __init__(
        self,
        consents: DomesticPaymentConsents,
        signatures: RequestSignatures,
        core_banking: CoreBanking,
        risk: PaymentRisk,
        base_url: str,
    ) -> None:
        self.consents = consents
        self.signatures = signatures
        self.core_banking = core_banking
        self.risk = risk
        self.base_url = base_url

    async def create_consent(self, request: Request) -> Response:
        """201 for a new consent and for a replay of its idempotency key with the same body alike
        (profile, "Idempotency": "respond to the request with the current status of the resource
        (or a status which is at least as current as what's available on existing online channels)
        and a HTTP status code of 201 (Created)")."""
        client_id = tpp_client(request)
        body = await json_body(request)
        await self.signatures.verify(signature(request), body, client_id)
        key = idempotency_key(request)
        consent_request = read_domestic_consent_request(body)
        replayed = await self.consents.replay(client_id, key, consent_request)
        if replayed is not None:
            return _json(consent_document(replayed, self.base_url), 201)
        now = utcnow()
        completion_ahead(consent_request, now)
        # Scored before anything is written (kaimen.apis.payments.risk_check: "an exception ... fails
        # the request with a 500 and nothing is written"): an engine that fails leaves no consent and
        # no idempotency key, and the TPP's retry is scored as a new request.
        consent_id = new_consent_id()
        context = _consent_context(request, consent_id, client_id, consent_request, now)
        decision = await self.risk.assess_consent(context)
        consent, _ = await self.consents.create(
            client_id,
            key,
            consent_request,
            consent_id=consent_id,
            now=now,
            rejected=decision.outcome == REJECT,
            step_up=decision.outcome != ALLOW,  # step_up, hold or unknown: an extra factor at SCA
        )
        return _json(consent_document(consent, self.base_url), 201)

    async def read_consent(self, request: Request) -> Response:
        client_id = tpp_client(request)
        unsigned(request)
        consent_id = request.path_params["ConsentId"]
        consent = await self.consents.get(consent_id, client_id)
        if consent is None:
            raise await self._refusal(consent_id, client_id)
        return _json(consent_document(consent, self.base_url), 200)

    async def _refusal(self, consent_id: str, client_id: str) -> ApiError:
        return await consent_refusal(
            self.consents.held_by_another, consent_id, client_id, "domestic-payment-consent"
        )

    async def funds_confirmation(self, request: Request) -> Response:
        """Payment Initiation API Profile, "Confirm Funds": "The PISP may ... call the funds
        confirmation resource" once the consent is Authorised, with the token the PSU authorised; the
        answer is a yes or a no (OBWriteFundsConfirmationResponse1), nothing else about the account."""
        token = customer_token(request)
        unsigned(request)
        consent_id = request.path_params["ConsentId"]
        consent = await self.consents.get(consent_id, token.client_id)
        if consent is None:
            raise await self._refusal(consent_id, token.client_id)
        if token.consent_id != consent_id:
            raise ConsentOfAnotherParty("the access token was not issued for this consent")
        if consent.status is not Status.AUTHORISED or consent.debtor_account_id is None:
            raise ConsentNotActive("the consent is not Authorised")
        if consent.customer_id != token.customer_id:
            raise ConsentOfAnotherParty("the consent was not authorised by this customer")
        assert token.customer_id is not None  # customer_token ran first
        try:
            available = await self.core_banking.funds_available(
                token.customer_id, consent.debtor_account_id, consent.amount
            )
        except AccountNotFound:
            raise ConsentNotActive("the consent's debtor account is no longer available") from None
        document = {
            "Data": {
                "FundsAvailableResult": {
                    "FundsAvailableDateTime": utcnow().isoformat(),
                    "FundsAvailable": available,
                }
            },
            "Links": {"Self": f"{self.base_url}{CONSENTS_PATH}/{consent_id}/funds-confirmation"},
            "Meta": {},
        }
        return _json(document, 200)
