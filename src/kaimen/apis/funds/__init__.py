"""The Confirmation of Funds API (phase 3), UK OB v3.1.11 Confirmation of Funds API, base path
``/open-banking/v3.1/cbpii``.

- ``models``           the funds-confirmation-consent and funds-confirmation tables (registered on
                       kaimen.store.models.Base)
- ``requests``         OBFundsConfirmationConsent1 and OBFundsConfirmation1 read strictly
- ``consents``         the consent store and its lifecycle (the service the authorization flow, the
                       dashboard and the funds confirmations call)
- ``intents``          the consents as the authorization flow's ``IntentKind`` (kaimen.authz.ports)
- ``access``           whose token may call which endpoint
- ``confirmations``    the funds check and its audit record
- ``resource``         the TPP-facing endpoints
- ``routes``           the gateway's view of the API and its routes

This module imports nothing: kaimen.store.models imports ``models`` from here to register the tables.
"""
