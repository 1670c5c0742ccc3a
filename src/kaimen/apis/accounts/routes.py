"""The Account API in the gateway's table and in the router (wired in kaimen.app)."""

from __future__ import annotations

from starlette.routing import Route

from kaimen.apis.accounts.resource import BASE_PATH, CONSENTS_PATH, ConsentResource
from kaimen.errors.render import Family
from kaimen.gateway.apis import Api
from kaimen.settings import Settings

API_NAME = "aisp"


def account_apis(settings: Settings) -> list[Api]:
    """Every path under the base path is the Account API: DPoP-bound tokens with scope ``accounts``,
    errors as OBErrorResponse1. kaimen.settings (OB_APIS) refuses a policy that would let a call
    through without that token."""
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


def account_routes(resource: ConsentResource) -> list[Route]:
    return [
        Route(CONSENTS_PATH, resource.create, methods=["POST"]),
        Route(f"{CONSENTS_PATH}/{{ConsentId}}", resource.one, methods=["GET", "DELETE"]),
    ]
