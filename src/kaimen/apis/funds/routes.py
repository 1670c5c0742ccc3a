"""The Confirmation of Funds API in the gateway's table and in the router (wired in kaimen.app)."""

from __future__ import annotations

from starlette.routing import Route

from kaimen.apis.funds.resource import BASE_PATH, CONFIRMATIONS_PATH, CONSENTS_PATH, FundsResource
from kaimen.errors.render import Family
from kaimen.gateway.apis import Api
from kaimen.settings import Settings

API_NAME = "cbpii"


def funds_apis(settings: Settings) -> list[Api]:
    """Every path under the base path is the Confirmation of Funds API: DPoP-bound tokens with scope
    ``fundsconfirmations``, errors as OBErrorResponse1. kaimen.settings (OB_APIS) refuses a policy that
    would let a call through without that token."""
    policy = settings.apis[API_NAME]
    return [
        Api(
            name=API_NAME,
            path=BASE_PATH,
            family=Family.OB,
            media_type="application/json",
            policy=policy,
            prefix=True,
        )
    ]


def funds_routes(resource: FundsResource) -> list[Route]:
    return [
        Route(CONSENTS_PATH, resource.create_consent, methods=["POST"]),
        Route(f"{CONSENTS_PATH}/{{ConsentId}}", resource.consent, methods=["GET", "DELETE"]),
        Route(CONFIRMATIONS_PATH, resource.confirm, methods=["POST"]),
    ]
