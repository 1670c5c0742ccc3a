"""The Confirmation of Funds endpoints, the TPP's side (UK OB v3.1.11 spec file
confirmation-funds-openapi.json):

    POST   /funds-confirmation-consents              tpp_client -> json_body -> read_funds_consent_request
                                                     -> create -> 201 OBFundsConfirmationConsentResponse1
    GET    /funds-confirmation-consents/{ConsentId}  tpp_client -> owned consent
                                                     -> 200 OBFundsConfirmationConsentResponse1
    DELETE /funds-confirmation-consents/{ConsentId}  tpp_client -> delete owned consent -> 204
    (either, for a ConsentId that is not this TPP's: consent_refusal -> 403 or 400)
    POST   /funds-confirmations                      customer_token -> json_body -> read_funds_check_request
                                                     -> active_consent -> confirm
                                                     -> 201 OBFundsConfirmationResponse1

Before any of this the gateway has checked the DPoP-bound token and its scope ``fundsconfirmations``,
and it puts ``x-fapi-interaction-id`` on every answer. Refusals are ApiErrors, rendered as
OBErrorResponse1.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kaimen.apis.accounts.ais_access import active_consent
from kaimen.apis.accounts.resource import MEDIA_TYPE, consent_refusal, json_body
from kaimen.apis.funds.access import customer_token, tpp_client
from kaimen.apis.funds.confirmations import FundsCheck, FundsConfirmations
from kaimen.apis.funds.consents import FundsConfirmationConsents, FundsConsent
from kaimen.apis.funds.requests import read_funds_check_request, read_funds_consent_request
from kaimen.errors import ApiError
from kaimen.store.types import utcnow

BASE_PATH = "/open-banking/v3.1/cbpii"  # the spec file's servers[0].url
CONSENTS_PATH = f"{BASE_PATH}/funds-confirmation-consents"
CONFIRMATIONS_PATH = f"{BASE_PATH}/funds-confirmations"
_JSON_HEADERS = {"content-type": MEDIA_TYPE}


def consent_document(consent: FundsConsent, base_url: str) -> dict[str, Any]:
    """OBFundsConfirmationConsentResponse1. Date-times carry their zone ("All date-time fields in
    responses must include the timezone"); ExpirationDateTime and DebtorAccount as the TPP sent them.
    The ledger account the DebtorAccount resolved to is never shown."""
    debtor = consent.debtor_account
    account: dict[str, Any] = {"SchemeName": debtor.scheme_name, "Identification": debtor.identification}
    if debtor.name is not None:
        account["Name"] = debtor.name
    if debtor.secondary_identification is not None:
        account["SecondaryIdentification"] = debtor.secondary_identification
    data: dict[str, Any] = {
        "ConsentId": consent.consent_id,
        "CreationDateTime": consent.created_at.isoformat(),
        "Status": consent.status.value,
        "StatusUpdateDateTime": consent.status_updated_at.isoformat(),
    }
    if consent.expiration is not None:
        data["ExpirationDateTime"] = consent.expiration.text
    data["DebtorAccount"] = account
    return {
        "Data": data,
        "Links": {"Self": f"{base_url}{CONSENTS_PATH}/{consent.consent_id}"},
        "Meta": {"TotalPages": 1},
    }


def confirmation_document(check: FundsCheck, base_url: str) -> dict[str, Any]:
    """OBFundsConfirmationResponse1: the answer and what was asked, echoed as sent."""
    return {
        "Data": {
            "FundsConfirmationId": check.funds_confirmation_id,
            "ConsentId": check.consent_id,
            "CreationDateTime": check.created_at.isoformat(),
            "FundsAvailable": check.funds_available,
            "Reference": check.reference,
            "InstructedAmount": {"Amount": check.amount.text, "Currency": check.amount.currency},
        },
        # The spec file has no GET of one funds confirmation: Self is the resource that made it.
        "Links": {"Self": f"{base_url}{CONFIRMATIONS_PATH}"},
        "Meta": {"TotalPages": 1},
    }


def _json(document: dict[str, Any], status: int) -> Response:
    return Response(orjson.dumps(document), status_code=status, headers=_JSON_HEADERS)


class FundsResource:
    def __init__(
        self, consents: FundsConfirmationConsents, confirmations: FundsConfirmations, base_url: str
    ) -> None:
        self.consents = consents
        self.confirmations = confirmations
        self.base_url = base_url

    async def create_consent(self, request: Request) -> Response:
        client_id = tpp_client(request)
        consent_request = read_funds_consent_request(await json_body(request), utcnow())
        consent = await self.consents.create(client_id, consent_request)
        return _json(consent_document(consent, self.base_url), 201)

    async def consent(self, request: Request) -> Response:
        """GET or DELETE /funds-confirmation-consents/{ConsentId} (one route, so 405 lists both)."""
        return await (
            self.delete_consent(request) if request.method == "DELETE" else self.read_consent(request)
        )

    async def read_consent(self, request: Request) -> Response:
        client_id = tpp_client(request)
        consent_id = request.path_params["ConsentId"]
        consent = await self.consents.get(consent_id, client_id)
        if consent is None:
            raise await self._refusal(consent_id, client_id)
        return _json(consent_document(consent, self.base_url), 200)

    async def delete_consent(self, request: Request) -> Response:
        """204 (spec file, 204FundsConfirmationConsentsConsentIdDeleted); the consent is gone, and the
        tokens issued under it are revoked (consent.deleted)."""
        client_id = tpp_client(request)
        consent_id = request.path_params["ConsentId"]
        if not await self.consents.delete(consent_id, client_id):
            raise await self._refusal(consent_id, client_id)
        return Response(status_code=204)

    async def _refusal(self, consent_id: str, client_id: str) -> ApiError:
        return await consent_refusal(
            self.consents.held_by_another, consent_id, client_id, "funds-confirmation-consent"
        )

    async def confirm(self, request: Request) -> Response:
        token = customer_token(request)
        check_request = read_funds_check_request(await json_body(request))
        consent = await active_consent(self.consents, token)
        check = await self.confirmations.confirm(consent, check_request)
        return _json(confirmation_document(check, self.base_url), 201)
