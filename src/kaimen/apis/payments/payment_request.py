"""OBWriteDomestic2, the body of POST /domestic-payments, read strictly with the same named steps as
the consent's body (kaimen.apis.payments.consent_request): ``json_object``, ``schema`` (the spec
file's OBWriteDomestic2: Data.ConsentId, Data.Initiation and Risk, ``additionalProperties: false``),
``schemes`` and ``amount``. Its Initiation is the consent's (the same schema in the spec file), so it
is checked the same way and answers the same refusals.

Whether the Initiation and the Risk are the consent's is the payment's next step
(kaimen.apis.payments.payment_checks); here they are only kept as canonical JSON to compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kaimen.apis.payments.consent_request import (
    body_digest,
    canonical,
    check_schema,
    check_schemes,
    instructed_amount,
    json_object,
)
from kaimen.ledger.money import Money

SCHEMA = "OBWriteDomestic2"


@dataclass(frozen=True, slots=True)
class DomesticPaymentRequest:
    consent_id: str  # Data.ConsentId
    initiation: str  # canonical JSON of Data.Initiation
    risk: str  # canonical JSON of Risk
    initiation_document: dict[str, Any]
    amount: Money
    digest: str  # SHA-256 (hex) of the canonical JSON of the whole body


def read_domestic_payment_request(body: bytes) -> DomesticPaymentRequest:
    document = json_object(body, SCHEMA)
    check_schema(SCHEMA, document)
    data: dict[str, Any] = document["Data"]
    initiation: dict[str, Any] = data["Initiation"]
    check_schemes(initiation)
    return DomesticPaymentRequest(
        consent_id=data["ConsentId"],
        initiation=canonical(initiation),
        risk=canonical(document["Risk"]),
        initiation_document=initiation,
        amount=instructed_amount(initiation["InstructedAmount"]),
        digest=body_digest(document),
    )
