"""The Confirmation of Funds API in the gateway's table and in the router (wired in kaimen.app)."""

from __future__ import annotations

from starlette.routing import Route

from kaimen.apis.funds.resource import BASE_PATH, CONFIRMATIONS_PATH, CONSENTS_PATH, FundsResource
from kaimen.errors.render import Family
from kaimen.gateway.apis import Api
from kaimen.settings import Settings, SettingsError

API_NAME = "cbpii"
# The spec file's security, TPPOAuth2Security and PSUOAuth2Security: ["fundsconfirmations"].
SCOPE = "fundsconfirmations"


def funds_apis(settings: Settings) -> list[Api]:
    """Every path under the base path is the Confirmation of Funds API: DPoP-bound tokens with scope
    ``fundsconfirmations``, errors as OBErrorResponse1. A policy that would let a call through without
    that token is refused at start-up."""
    policy = settings.apis[API_NAME]
    if policy.auth != "dpop" or SCOPE not in policy.scopes:
        raise SettingsError(
            f"KAIMEN_APIS__{API_NAME.upper()}: the Confirmation of Funds API needs "
            f'auth "dpop" and scope {SCOPE!r}'
        )
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
