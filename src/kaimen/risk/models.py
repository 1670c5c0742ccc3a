"""The risk engine's tables, registered on Kaimen's declarative ``Base`` (kaimen.store.models imports
this module); migration 0013.

- ``risk_decisions``: every decision, with its reasons (JSON: ``[{"rule", "score", "reason"}]``), the
  customer's IP as reported and a SHA-256 of the reported device (the "seen before" signals read them).
- ``risk_denied_payees``: the operator's deny list (``kaimen risk deny-payee``), identifications stored
  normalised (kaimen.risk.context.normalise_identification).
- ``risk_velocity_events``: one row per assessment per window key, for velocity on PostgreSQL without
  Redis (kaimen.risk.velocity.DatabaseVelocity); rows older than the longest window are swept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kaimen.store.models import Base
from kaimen.store.types import UTCDateTime


class RiskDecisionRow(Base):
    __tablename__ = "risk_decisions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(128), index=True)  # ConsentId or DomesticPaymentId
    stage: Mapped[str] = mapped_column(String(16))  # consent | payment
    customer_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    client_id: Mapped[str] = mapped_column(String(64))
    score: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # allow | step_up | hold | reject
    reasons: Mapped[str] = mapped_column(Text)  # JSON
    customer_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    device_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_risk_decisions_customer_id_decided_at", "customer_id", "decided_at"),)


class RiskDeniedPayee(Base):
    __tablename__ = "risk_denied_payees"

    scheme: Mapped[str] = mapped_column(String(64), primary_key=True)
    identification: Mapped[str] = mapped_column(String(256), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RiskVelocityEvent(Base):
    __tablename__ = "risk_velocity_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    amount_minor: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_risk_velocity_events_key_at", "key", "at"),)
