"""What the registry hands out: review statuses, their lifecycle, and read-only views of its records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from kaimen.tiers import Tier


class ReviewStatus(StrEnum):
    """Issue 2, "TPP registry": an application has a review status; only ``approved`` may call APIs."""

    PENDING = "pending"
    APPROVED = "approved"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


# Which review decisions may follow which. Revoked is final; suspension is for approved applications.
TRANSITIONS: dict[ReviewStatus, frozenset[ReviewStatus]] = {
    ReviewStatus.PENDING: frozenset({ReviewStatus.APPROVED, ReviewStatus.REVOKED}),
    ReviewStatus.APPROVED: frozenset({ReviewStatus.SUSPENDED, ReviewStatus.REVOKED}),
    ReviewStatus.SUSPENDED: frozenset({ReviewStatus.APPROVED, ReviewStatus.REVOKED}),
    ReviewStatus.REVOKED: frozenset(),
}

CONTACT_ROLES = ("business", "technical", "security")


class RegistryError(Exception):
    """A registry request that cannot be done (unknown id, illegal transition, ...); the message says why."""


@dataclass(frozen=True)
class ContactView:
    role: str
    name: str
    email: str


@dataclass(frozen=True)
class ApplicationView:
    id: str
    organisation_id: str
    organisation_name: str
    name: str
    status: ReviewStatus
    tier: Tier
    contacts: list[ContactView]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class KeyView:
    """An API key as operators see it: never the key itself, only its public lookup prefix."""

    id: str
    application_id: str
    prefix: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedKey:
    """A new key. ``api_key`` is the plaintext, shown once and never stored."""

    key: KeyView
    api_key: str
