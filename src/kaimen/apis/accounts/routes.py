"""The Account API in the gateway's table and in the router (wired in kaimen.app)."""

from __future__ import annotations

from starlette.routing import Route

from kaimen.apis.accounts.resource import BASE_PATH, CONSENTS_PATH, ConsentResource
from kaimen.apis.ob_api import ob_api
from kaimen.gateway.apis import Api
from kaimen.settings import Settings

API_NAME = "aisp"


def account_apis(settings: Settings) -> list[Api]:
    """The Account API: tokens with scope ``accounts``."""
    return [ob_api(API_NAME, BASE_PATH, settings)]


def account_routes(resource: ConsentResource) -> list[Route]:
    return [
        Route(CONSENTS_PATH, resource.create, methods=["POST"]),
        Route(f"{CONSENTS_PATH}/{{ConsentId}}", resource.one, methods=["GET", "DELETE"]),
    ]
