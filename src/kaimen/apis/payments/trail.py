"""A payment's whole trail, for the operator (issue 5, item 5: "one command shows a payment's whole
trail by interaction id or payment id: TPP request -> consent -> SCA -> risk decision -> ledger
postings"), read from where each step left its record:

    consent        the consent row: created by the TPP, then authorised by the customer
    sca            the tokens issued under the consent: when the customer authenticated (auth_time),
                   how (amr, acr) and when the token was issued
    risk           the risk engine's decisions on the consent and on the payment, with their reasons
    call           the audit records of calls made with the customer's token (the payment's POST)
    payment        the payment row: its status, the reason the TPP reads, the decision and its reasons
    ledger         the posting under the payment's id, each entry (debit and credit)

``kaimen payments trail ID`` prints it; ID is a DomesticPaymentId or the x-fapi-interaction-id of any
call of the trail that carried the consent (the payment's POST, for one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import select

from kaimen.apis.payments.models import DomesticPayment, DomesticPaymentConsent
from kaimen.apis.payments.payment_record import ID_PREFIX
from kaimen.audit.store import by_consent, by_interaction
from kaimen.ledger.lookup import posting_by_reference
from kaimen.risk.store import RiskStore
from kaimen.store.authz_models import Token
from kaimen.store.db import Database


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    kind: str  # consent | sca | risk | call | payment | ledger
    what: str


async def _payment_of(db: Database, ident: str) -> DomesticPayment | None:
    async with db.read() as session:
        if ident.startswith(ID_PREFIX):
            return await session.get(DomesticPayment, ident)
    for record in await by_interaction(db, ident):
        if record.consent_id:
            async with db.read() as session:
                query = select(DomesticPayment).where(DomesticPayment.consent_id == record.consent_id)
                found = (await session.scalars(query)).first()
            if found is not None:
                return found
    return None


async def payment_trail(db: Database, ident: str) -> list[Step] | None:
    """The trail of the payment ``ident`` names, oldest step first; None when it names none."""
    payment = await _payment_of(db, ident)
    if payment is None:
        return None
    async with db.read() as session:
        consent = await session.get(DomesticPaymentConsent, payment.consent_id)
        tokens = (
            await session.scalars(
                select(Token).where(Token.consent_id == payment.consent_id).order_by(Token.created_at)
            )
        ).all()
    assert consent is not None  # a payment's consent is never deleted
    steps = [
        Step(
            consent.created_at,
            "consent",
            f"{consent.id} created by client {consent.client_id}: pay "
            f"{payment.amount_minor} minor units {payment.currency}",
        ),
    ]
    for token in tokens:
        details = token.details or {}
        if token.kind == "access" and details.get("auth_time"):
            authenticated = datetime.fromtimestamp(int(details["auth_time"]), consent.created_at.tzinfo)
            # auth_time has whole seconds: never shown before the consent it authorised was created.
            steps.append(
                Step(
                    max(authenticated, consent.created_at),
                    "sca",
                    f"customer {token.customer_id} authenticated "
                    f"(amr {'+'.join(details.get('amr', []))}, acr {details.get('acr')}) and approved "
                    f"paying from {consent.debtor_account_id}",
                ),
            )
            steps.append(Step(token.created_at, "sca", f"access token issued to {token.client_id}"))
    store = RiskStore(db)
    for subject in (consent.id, payment.id):
        for decision in await store.decisions(subject):
            reasons = "; ".join(str(reason.get("reason", "")) for reason in decision.reasons) or "none"
            steps.append(
                Step(
                    decision.decided_at,
                    "risk",
                    f"{decision.stage}: {decision.outcome} (score {decision.score}): {reasons}",
                ),
            )
    for record in await by_consent(db, consent.id):
        steps.append(
            Step(
                record.at,
                "call",
                f"{record.method} {record.route} -> {record.status} (interaction {record.interaction_id})",
            ),
        )
    reason = f": {payment.status_reason_description}" if payment.status_reason_description else ""
    # The decision's own reasons (risk_reasons), never shown to the TPP (kaimen.apis.payments.settlement).
    decided = "; ".join(orjson.loads(payment.risk_reasons)) or "none"
    steps.append(
        Step(
            payment.created_at,
            "payment",
            f"{payment.id} {payment.status}{reason} (decision {payment.risk_outcome}: {decided})",
        )
    )
    if payment.status_updated_at != payment.created_at:
        steps.append(Step(payment.status_updated_at, "payment", f"{payment.id} now {payment.status}"))
    posting = await posting_by_reference(db, payment.id)
    if posting is not None:
        for entry in posting.entries:
            side = "debit" if entry.amount.minor < 0 else "credit"
            steps.append(
                Step(
                    entry.booked_at,
                    "ledger",
                    f"{side} {entry.amount.ob_amount()} "
                    f"{entry.amount.currency} on {entry.account_id} (posting {posting.posting_id})",
                ),
            )
    return sorted(steps, key=lambda step: step.at)
