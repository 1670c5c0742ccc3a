"""The Payment Initiation API in the gateway's table and in the router (wired in kaimen.app)."""

from __future__ import annotations

from starlette.routing import Route

from kaimen.apis.ob_api import ob_api
from kaimen.apis.payments.payment_resource import PAYMENTS_PATH, DomesticPaymentsResource
from kaimen.apis.payments.resource import BASE_PATH, CONSENTS_PATH, PaymentsResource
from kaimen.gateway.apis import Api
from kaimen.settings import Settings

API_NAME = "pisp"


def payment_apis(settings: Settings) -> list[Api]:
    """The Payment Initiation API: tokens with scope ``payments``; every response signed
    (kaimen.jws.responses)."""
    return [ob_api(API_NAME, BASE_PATH, settings)]


def payment_routes(resource: PaymentsResource, payments: DomesticPaymentsResource) -> list[Route]:
    return [
        Route(PAYMENTS_PATH, payments.create_payment, methods=["POST"]),
        Route(f"{PAYMENTS_PATH}/{{DomesticPaymentId}}", payments.read_payment, methods=["GET"]),
        Route(
            f"{PAYMENTS_PATH}/{{DomesticPaymentId}}/payment-details",
            payments.payment_details,
            methods=["GET"],
        ),
        Route(CONSENTS_PATH, resource.create_consent, methods=["POST"]),
        Route(f"{CONSENTS_PATH}/{{ConsentId}}", resource.read_consent, methods=["GET"]),
        Route(
            f"{CONSENTS_PATH}/{{ConsentId}}/funds-confirmation", resource.funds_confirmation, methods=["GET"]
        ),
    ]
