"""The Account API (phase 2), UK OB v3.1.11 Account and Transaction API, base path
``/open-banking/v3.1/aisp``.

- ``models``       the account-access-consent table (registered on kaimen.store.models.Base)
- ``permissions``  the 21 permission codes, which Kaimen serves, and the profile's combination rules
- ``consent_request``  OBReadConsent1 read strictly into a ConsentRequest
- ``consents``     the consent store and its lifecycle (the service the authorization flow, the
                   dashboard and the AIS resources call)
- ``resource``     POST/GET/DELETE /account-access-consents, the TPP-facing endpoints
- ``routes``       the gateway's view of the API and its routes

This module imports nothing: kaimen.store.models imports ``models`` from here to register the table.
"""
