"""The dashboard's session table, registered on Kaimen's declarative ``Base`` (kaimen.store.models
imports this module). The browser holds only a random cookie; its SHA-256 digest is the id, so a copy
of the database opens no session."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from kaimen.store.models import Base
from kaimen.store.types import UTCDateTime


class DashboardSession(Base):
    __tablename__ = "dashboard_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    step: Mapped[str] = mapped_column(String(16))  # password | second_factor | signed_in
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Idle timeout: moved on by every request of a signed-in customer, never past ``expires_at``.
    idle_until: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # absolute lifetime
