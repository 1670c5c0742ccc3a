"""The Payment Initiation API (phase 3), UK OB v3.1.11 Payment Initiation API, base path
``/open-banking/v3.1/pisp``: domestic payment consents and domestic payments.

- ``models``           the domestic-payment-consent, idempotency-key and domestic-payment tables
                       (registered on kaimen.store.models.Base)
- ``spec``             the packaged spec file and validators of its schemas
- ``consent_request``  OBWriteDomesticConsent4 read strictly against the spec file's schema
- ``idempotency``      x-idempotency-key: the header, and the key claimed once per TPP in the database
- ``consents``         the consent store and its lifecycle (the service the authorization flow and the
                       payments call)
- ``access``           whose token may call which endpoint, and which carry a signature
- ``resource``         the TPP-facing consent endpoints
- ``payment_request``  OBWriteDomestic2 read with the consent_request steps
- ``payment_checks``   the payment against its consent: token, owner, status, customer, same
                       Initiation and Risk, the digest the customer approved
- ``risk_check``       the PaymentRisk protocol the risk engine plugs into (NoRiskChecks by default)
- ``payment_record``   the payment as kept: its id, statuses, and the Payment read from its row
- ``settlement``       what a risk decision does to a payment: its status, and the ledger posting
- ``payments``         the payment made exactly once: key, consent consumed, settlement, row; and the
                       operator's decision on a held payment
- ``payment_resource`` the TPP-facing domestic-payment endpoints
- ``routes``           the gateway's view of the API and its routes

Message signing (every request body signed by the TPP, every response by the bank) is kaimen.jws.
This module imports nothing: kaimen.store.models imports ``models`` from here to register the tables.
"""
