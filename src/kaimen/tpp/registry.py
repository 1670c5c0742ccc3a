"""The TPP registry: organisations own applications; an application has a review status, the tier it
was admitted to, contacts and API keys (issue 2, item 3).

Every change that can alter who may call an API bumps the ``registry`` generation in the same write
transaction (kaimen.store.watch), so every worker's caller cache drops at once, in every process.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from kaimen.store.db import Database
from kaimen.store.models import ApiKey, Application, Contact, Organisation
from kaimen.store.types import utcnow
from kaimen.store.watch import bump
from kaimen.tiers import Tier
from kaimen.tpp import keys
from kaimen.tpp.views import (
    CONTACT_ROLES,
    TRANSITIONS,
    ApplicationView,
    ContactView,
    IssuedKey,
    KeyView,
    RegistryError,
    ReviewStatus,
)

__all__ = [
    "ApplicationView",
    "ContactView",
    "IssuedKey",
    "KeyView",
    "Registry",
    "RegistryError",
    "ReviewStatus",
]

GENERATION = "registry"


def _application_view(app: Application) -> ApplicationView:
    return ApplicationView(
        id=app.id,
        organisation_id=app.organisation_id,
        organisation_name=app.organisation.name,
        name=app.name,
        status=ReviewStatus(app.status),
        tier=Tier(app.tier),
        contacts=[ContactView(role=c.role, name=c.name, email=c.email) for c in app.contacts],
        created_at=app.created_at,
        updated_at=app.updated_at,
    )


def _key_view(key: ApiKey) -> KeyView:
    return KeyView(
        id=key.id,
        application_id=key.application_id,
        prefix=key.prefix,
        label=key.label,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


def _checked_contact(contact: ContactView) -> Contact:
    if contact.role not in CONTACT_ROLES:
        raise RegistryError(f"contact role must be one of {', '.join(CONTACT_ROLES)}, not {contact.role!r}")
    if not contact.name.strip():
        raise RegistryError("contact name must not be empty")
    local, at, domain = contact.email.partition("@")
    if not (local and at and "." in domain):
        raise RegistryError(f"contact email {contact.email!r} is not an e-mail address")
    return Contact(role=contact.role, name=contact.name.strip(), email=contact.email)


def _application_query() -> Select[Application]:
    return select(Application).options(
        selectinload(Application.organisation), selectinload(Application.contacts)
    )


async def _application(session: AsyncSession, application_id: str, *, lock: bool = False) -> Application:
    """``lock``: in a write transaction that decides from what it read, hold the row until commit
    (``SELECT ... FOR UPDATE``). Under PostgreSQL's READ COMMITTED two workers would otherwise both
    read "suspended", one revoke and the other reinstate, and the application end approved after the
    revocation was answered. A second writer waits, then reads the committed row and decides again.
    SQLite has no row locks and needs none: ``BEGIN IMMEDIATE`` already serialises its writers."""
    query = _application_query().where(Application.id == application_id)
    if lock:
        query = query.with_for_update(of=Application)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise RegistryError(f"no application with id {application_id!r}")
    return found


def _not_revoked(app: Application, what: str) -> None:
    if app.status == ReviewStatus.REVOKED:
        raise RegistryError(f"application {app.id} is revoked, which is final: cannot {what}")


class Registry:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def register(
        self,
        *,
        organisation: str,
        application: str,
        tier: Tier,
        contacts: Sequence[ContactView] = (),
        status: ReviewStatus = ReviewStatus.PENDING,
    ) -> ApplicationView:
        """A new application; its organisation is reused when one of that name exists."""
        if not organisation.strip() or not application.strip():
            raise RegistryError("organisation and application names must not be empty")
        tier = Tier(tier)
        status = ReviewStatus(status)
        checked = [_checked_contact(c) for c in contacts]
        async with self.db.write() as session:
            org = (
                await session.execute(
                    select(Organisation).where(Organisation.name == organisation.strip()).limit(1)
                )
            ).scalar_one_or_none()
            if org is None:
                org = Organisation(id=keys.new_id("org"), name=organisation.strip())
                session.add(org)
            app = Application(
                id=keys.new_id("app"),
                organisation=org,
                name=application.strip(),
                status=status.value,
                tier=tier.value,
                contacts=checked,
            )
            session.add(app)
            await session.flush()
            await bump(session, GENERATION)
            app_id = app.id
        return await self.get(app_id)

    async def list(self) -> builtins.list[ApplicationView]:
        async with self.db.read() as session:
            found = (
                await session.execute(_application_query().order_by(Application.created_at, Application.id))
            ).scalars()
            return [_application_view(app) for app in found]

    async def get(self, application_id: str) -> ApplicationView:
        async with self.db.read() as session:
            return _application_view(await _application(session, application_id))

    async def set_status(self, application_id: str, status: ReviewStatus) -> ApplicationView:
        """A review decision. Setting the current status again changes nothing; revoked is final."""
        status = ReviewStatus(status)
        async with self.db.write() as session:
            app = await _application(session, application_id, lock=True)
            current = ReviewStatus(app.status)
            if status is current:
                return _application_view(app)
            if status not in TRANSITIONS[current]:
                _not_revoked(app, f"make it {status}")
                raise RegistryError(f"application {app.id} is {current}: it cannot become {status}")
            app.status = status.value
            app.updated_at = utcnow()
            await bump(session, GENERATION)
        return await self.get(application_id)

    async def set_tier(self, application_id: str, tier: Tier) -> ApplicationView:
        tier = Tier(tier)
        async with self.db.write() as session:
            app = await _application(session, application_id, lock=True)
            _not_revoked(app, "change its tier")
            if app.tier != tier.value:
                app.tier = tier.value
                app.updated_at = utcnow()
                await bump(session, GENERATION)
        return await self.get(application_id)

    async def create_key(self, application_id: str, label: str = "") -> IssuedKey:
        """A new API key; several may be active at once (rotation). The plaintext is returned only here."""
        new = keys.generate()
        async with self.db.write() as session:
            app = await _application(session, application_id, lock=True)
            _not_revoked(app, "create a key")
            key = ApiKey(
                id=keys.new_id("key"),
                application_id=app.id,
                prefix=new.prefix,
                digest=new.digest,
                label=label.strip(),
                created_at=utcnow(),
            )
            session.add(key)
            await session.flush()
            await bump(session, GENERATION)
            view = _key_view(key)
        return IssuedKey(key=view, api_key=new.plaintext)

    async def list_keys(self, application_id: str) -> builtins.list[KeyView]:
        async with self.db.read() as session:
            await _application(session, application_id)
            found = (
                await session.execute(
                    select(ApiKey)
                    .where(ApiKey.application_id == application_id)
                    .order_by(ApiKey.created_at, ApiKey.id)
                )
            ).scalars()
            return [_key_view(key) for key in found]

    async def revoke_key(self, key_id: str) -> KeyView:
        """Revokes one key for good; the application's other keys keep working."""
        async with self.db.write() as session:
            key = await session.get(ApiKey, key_id, with_for_update=True)
            if key is None:
                raise RegistryError(f"no API key with id {key_id!r}")
            if key.revoked_at is not None:
                raise RegistryError(f"API key {key_id} was already revoked at {key.revoked_at.isoformat()}")
            key.revoked_at = utcnow()
            await bump(session, GENERATION)
            return _key_view(key)
