"""The risk engine's durable state in Kaimen's database: the deny list, the decisions, and what was
seen of a customer on their earlier decisions (IP, device)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import delete, select

from kaimen.risk.context import ConsentContext, normalise_identification
from kaimen.risk.decision import RiskDecision
from kaimen.risk.facts import DeniedPayee, Seen
from kaimen.risk.models import RiskDecisionRow, RiskDeniedPayee
from kaimen.store.db import Database
from kaimen.store.direct import Statement

_RECORD = (
    "INSERT INTO risk_decisions (id, subject_id, stage, customer_id, client_id, score, outcome, reasons,"
    " customer_ip, device_digest, decided_at) VALUES (:id, :subject_id, :stage, :customer_id, :client_id,"
    " :score, :outcome, :reasons, :customer_ip, :device_digest, :decided_at)"
)
_DENIED = "SELECT reason FROM risk_denied_payees WHERE scheme = :scheme AND identification = :identification"
# One read for both "seen" signals: has the customer any earlier decision, one from this IP, one from
# this device.
_SEEN = (
    "SELECT count(*) > 0,"
    " coalesce(sum(CASE WHEN customer_ip = :ip THEN 1 ELSE 0 END), 0) > 0,"
    " coalesce(sum(CASE WHEN device_digest = :device THEN 1 ELSE 0 END), 0) > 0"
    " FROM (SELECT customer_ip, device_digest FROM risk_decisions WHERE customer_id = :customer"
    " ORDER BY decided_at DESC LIMIT :recent) AS recent"
)
SEEN_RECENT = 500  # the customer's latest decisions looked at


def device_digest(device: str | None) -> str | None:
    return None if device is None else hashlib.sha256(device.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RecordedDecision:
    """A row of ``risk_decisions`` as read back."""

    id: str
    subject_id: str
    stage: str
    customer_id: str | None
    client_id: str
    score: int
    outcome: str
    reasons: list[dict[str, object]]
    decided_at: datetime


class RiskStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # The deny list -------------------------------------------------------------------------------

    async def denied(self, scheme: str, identification: str) -> DeniedPayee | None:
        """The deny-list entry for this creditor: the identification matched normalised, under the same
        scheme."""
        params = {"scheme": scheme, "identification": normalise_identification(identification)}
        rows = await self.db.direct.rows(_DENIED, params)
        return DeniedPayee(scheme, params["identification"], rows[0][0]) if rows else None

    async def deny(self, scheme: str, identification: str, reason: str, at: datetime) -> bool:
        """Add a payee; False when it was already listed (its reason is updated)."""
        key = (scheme, normalise_identification(identification))
        async with self.db.write() as session:
            row = await session.get(RiskDeniedPayee, key)
            if row is not None:
                row.reason = reason
                return False
            session.add(RiskDeniedPayee(scheme=key[0], identification=key[1], reason=reason, added_at=at))
        return True

    async def allow(self, scheme: str, identification: str) -> bool:
        """Remove a payee; False when it was not listed."""
        async with self.db.write() as session:
            result = await session.execute(
                delete(RiskDeniedPayee).where(
                    RiskDeniedPayee.scheme == scheme,
                    RiskDeniedPayee.identification == normalise_identification(identification),
                )
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def deny_list(self) -> list[RiskDeniedPayee]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(RiskDeniedPayee).order_by(RiskDeniedPayee.scheme, RiskDeniedPayee.identification)
            )
            return list(rows.all())

    # What was seen of the customer ---------------------------------------------------------------

    async def seen(self, customer_id: str, context: ConsentContext) -> Seen:
        params = {
            "customer": customer_id,
            "ip": context.customer_ip or "",
            "device": device_digest(context.device) or "",
            "recent": SEEN_RECENT,
        }
        row = (await self.db.direct.rows(_SEEN, params))[0]
        return Seen(
            anything=bool(row[0]),
            ip=None if context.customer_ip is None else bool(row[1]),
            device=None if context.device is None else bool(row[2]),
        )

    # Decisions -----------------------------------------------------------------------------------

    async def record(self, decision: RiskDecision, context: ConsentContext) -> None:
        reasons = [{"rule": s.rule, "score": s.score, "reason": s.reason} for s in decision.signals]
        params = {
            "id": decision.decision_id,
            "subject_id": decision.subject_id,
            "stage": decision.stage.value,
            "customer_id": context.customer_id,
            "client_id": context.client_id,
            "score": decision.score,
            "outcome": decision.outcome.value,
            "reasons": orjson.dumps(reasons).decode(),
            "customer_ip": context.customer_ip,
            "device_digest": device_digest(context.device),
            "decided_at": decision.decided_at,
        }
        await self.db.direct.run([Statement(_RECORD, params)])

    async def decisions(self, subject_id: str) -> list[RecordedDecision]:
        """The decisions recorded for a consent or payment, oldest first."""
        async with self.db.read() as session:
            rows = await session.scalars(
                select(RiskDecisionRow)
                .where(RiskDecisionRow.subject_id == subject_id)
                .order_by(RiskDecisionRow.decided_at, RiskDecisionRow.id)
            )
            return [
                RecordedDecision(
                    row.id,
                    row.subject_id,
                    row.stage,
                    row.customer_id,
                    row.client_id,
                    row.score,
                    row.outcome,
                    orjson.loads(row.reasons),
                    row.decided_at,
                )
                for row in rows.all()
            ]
