"""The Confirmation of Funds API in the gateway's table and in the router (wired in kaimen.app)."""

from __future__ import annotations

from starlette.routing import Route

from kaimen.apis.funds.resource import BASE_PATH, CONFIRMATIONS_PATH, CONSENTS_PATH, FundsResource
from kaimen.apis.ob_api import ob_api
from kaimen.gateway.apis import Api
from kaimen.settings import Settings

API_NAME = "cbpii"


def funds_apis(settings: Settings) -> list[Api]:
    """The Confirmation of Funds API: tokens with scope ``fundsconfirmations``."""
    return [ob_api(API_NAME, BASE_PATH, settings)]


def funds_routes(resource: FundsResource) -> list[Route]:
    return [
        Route(CONSENTS_PATH, resource.create_consent, methods=["POST"]),
        Route(f"{CONSENTS_PATH}/{{ConsentId}}", resource.consent, methods=["GET", "DELETE"]),
        Route(CONFIRMATIONS_PATH, resource.confirm, methods=["POST"]),
    ]
