"""The account-access-consent resource, the TPP's side (UK OB v3.1.11 Account Access Consents):

    POST   /account-access-consents               tpp_client -> json_body -> read_consent_request
                                                  -> create -> 201 OBReadConsentResponse1
    GET    /account-access-consents/{ConsentId}   tpp_client -> owned consent -> 200 OBReadConsentResponse1
    DELETE /account-access-consents/{ConsentId}   tpp_client -> delete owned consent -> 204
    (either, for a ConsentId that is not this TPP's: consent_refusal -> 403 or 400)

Before any of this the gateway has checked the DPoP-bound access token and its scope ``accounts``
(kaimen.gateway.dpop_auth; the spec file's security: TPPOAuth2Security ["accounts"]), and it puts
``x-fapi-interaction-id`` on every answer. Refusals are ApiErrors, rendered as OBErrorResponse1.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kaimen.apis.accounts.ais_errors import ConsentOfAnotherParty
from kaimen.apis.accounts.consent_request import read_consent_request
from kaimen.apis.accounts.consents import AccountAccessConsents, Consent
from kaimen.apis.accounts.errors import ConsentNotFound, UnsupportedMediaType
from kaimen.apis.media_type import is_utf8_json
from kaimen.apis.token_access import tpp_client_of
from kaimen.errors import ApiError
from kaimen.store.types import utcnow

BASE_PATH = "/open-banking/v3.1/aisp"  # the spec file's servers[0].url
CONSENTS_PATH = f"{BASE_PATH}/account-access-consents"
MEDIA_TYPE = "application/json; charset=utf-8"  # the spec file's first response media type
_JSON_HEADERS = {"content-type": MEDIA_TYPE}


def tpp_client(request: Request) -> str:
    """The client id of the TPP calling with its own token. Profile, "Grants Types": "AISPs must use a
    client credentials grant to obtain a token to access the account-access-consents resource"; a
    token the customer authorised (it carries a customer) is refused."""
    return tpp_client_of(request, "account-access-consents")


async def json_body(request: Request) -> bytes:
    """The body, when it is declared JSON (the spec file's request media types application/json and
    application/json; charset=utf-8; RFC 8259 §8.1: JSON is UTF-8). Profile, "Request Headers",
    Content-Type: "The TPP may provide additional information (e.g. a 'q' value and charset). If set to
    any other value, the ASPSP must respond with a 415": the parameters are read as RFC 9110 defines
    them (kaimen.apis.media_type), and only another media type or a charset other than UTF-8 is 415."""
    if not is_utf8_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType("the request body must be application/json", path="Content-Type")
    return await request.body()


async def consent_refusal(
    held_by_another: Callable[[str, str], Awaitable[bool]], consent_id: str, client_id: str, kind: str
) -> ApiError:
    """The answer to a TPP naming a ConsentId that is not its own (GET or DELETE of a consent of any
    of the three kinds). Read/Write Data API Profile, "403 (Forbidden)": "the ASPSP must return a 403
    (Forbidden)" when "The TPP attempted to access a resource with an Id that it does not have access
    to"; and "400 (Bad Request) v/s 404 (Not Found)": "When a TPP tries to request a resource URL with a
    resource Id that does not exist, the ASPSP must respond with a 400". So another TPP's consent is 403
    UK.OBIE.Resource.ConsentMismatch, and an unknown or deleted one 400 UK.OBIE.Resource.NotFound. The
    403 says that much and nothing of the consent."""
    if await held_by_another(consent_id, client_id):
        return ConsentOfAnotherParty(f"this {kind} is another TPP's", path="ConsentId")
    return ConsentNotFound(f"no {kind} with this ConsentId", path="ConsentId")


def consent_document(consent: Consent, base_url: str) -> dict[str, Any]:
    """OBReadConsentResponse1. Date-times: "All date-time fields in responses must include the
    timezone" (spec file, ISODateTime); the TPP's own are echoed as it sent them."""
    data: dict[str, Any] = {
        "ConsentId": consent.consent_id,
        "Status": consent.status.value,
        "StatusUpdateDateTime": consent.status_updated_at.isoformat(),
        "CreationDateTime": consent.created_at.isoformat(),
        "Permissions": list(consent.permissions),
    }
    if consent.expiration is not None:
        data["ExpirationDateTime"] = consent.expiration.text
    if consent.transaction_from is not None:
        data["TransactionFromDateTime"] = consent.transaction_from.text
    if consent.transaction_to is not None:
        data["TransactionToDateTime"] = consent.transaction_to.text
    return {
        "Data": data,
        "Risk": {},  # OBRisk2 has no properties (additionalProperties: false): the only value it takes
        "Links": {"Self": f"{base_url}{CONSENTS_PATH}/{consent.consent_id}"},
        "Meta": {"TotalPages": 1},
    }


class ConsentResource:
    def __init__(self, consents: AccountAccessConsents, base_url: str) -> None:
        self.consents = consents
        self.base_url = base_url

    def _answer(self, consent: Consent, status: int) -> Response:
        body = orjson.dumps(consent_document(consent, self.base_url))
        return Response(body, status_code=status, headers=_JSON_HEADERS)

    async def create(self, request: Request) -> Response:
        client_id = tpp_client(request)
        consent_request = read_consent_request(await json_body(request), utcnow())
        return self._answer(await self.consents.create(client_id, consent_request), 201)

    async def one(self, request: Request) -> Response:
        """GET or DELETE /account-access-consents/{ConsentId} (one route, so 405 lists both)."""
        return await (self.delete(request) if request.method == "DELETE" else self.read(request))

    async def read(self, request: Request) -> Response:
        client_id = tpp_client(request)
        consent_id = request.path_params["ConsentId"]
        consent = await self.consents.get(consent_id, client_id)
        if consent is None:
            raise await self._refusal(consent_id, client_id)
        return self._answer(consent, 200)

    async def delete(self, request: Request) -> Response:
        """Profile, "Consent Revocation": the AISP "must call the DELETE operation on the
        account-access-consent resource ... to indicate to the ASPSP that the PSU has revoked
        consent"; 204 (spec file, 204AccountAccessConsentsConsentIdDeleted), and the consent is gone."""
        client_id = tpp_client(request)
        consent_id = request.path_params["ConsentId"]
        if not await self.consents.delete(consent_id, client_id):
            raise await self._refusal(consent_id, client_id)
        return Response(status_code=204)

    async def _refusal(self, consent_id: str, client_id: str) -> ApiError:
        return await consent_refusal(
            self.consents.held_by_another, consent_id, client_id, "account-access-consent"
        )
