"""The TPP registry (issue 2, item 3), on SQLite and PostgreSQL: lifecycle, tiers, contacts, keys."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text

from kaimen.store.db import Database
from kaimen.store.models import ApiKey, Generation
from kaimen.tiers import Tier
from kaimen.tpp import keys
from kaimen.tpp.registry import ContactView, Registry, RegistryError, ReviewStatus

ID = re.compile(r"^(org|app|key)_[0-9a-f]{32}$")


@pytest.fixture
def registry(db: Database) -> Registry:
    return Registry(db)


async def _generation(db: Database) -> int:
    async with db.read() as session:
        value = (
            await session.execute(select(Generation.value).where(Generation.name == "registry"))
        ).scalar_one_or_none()
    return value or 0


async def test_register_defaults_to_pending_and_reuses_the_organisation(registry: Registry) -> None:
    contact = ContactView(role="technical", name="Jo Bloggs", email="jo@acme.example")
    first = await registry.register(
        organisation="Acme Ltd", application="Acme Budget", tier=Tier.ACQUAINTANCE, contacts=[contact]
    )
    second = await registry.register(organisation="Acme Ltd", application="Acme Pay", tier=Tier.PARTNER)

    assert first.status is ReviewStatus.PENDING
    assert first.tier is Tier.ACQUAINTANCE
    assert first.contacts == [contact]
    assert first.organisation_name == "Acme Ltd"
    assert second.organisation_id == first.organisation_id  # "organisations own applications"
    assert ID.match(first.id) and ID.match(first.organisation_id)
    assert [app.id for app in await registry.list()] == [first.id, second.id]
    assert await registry.get(first.id) == first


async def test_review_lifecycle_and_revoked_is_final(registry: Registry) -> None:
    app = await registry.register(organisation="Acme", application="A", tier=Tier.PUBLIC)

    assert (await registry.set_status(app.id, ReviewStatus.APPROVED)).status is ReviewStatus.APPROVED
    assert (await registry.set_status(app.id, ReviewStatus.SUSPENDED)).status is ReviewStatus.SUSPENDED
    assert (await registry.set_status(app.id, ReviewStatus.APPROVED)).status is ReviewStatus.APPROVED
    assert (await registry.set_status(app.id, ReviewStatus.REVOKED)).status is ReviewStatus.REVOKED

    for status in (ReviewStatus.APPROVED, ReviewStatus.SUSPENDED, ReviewStatus.PENDING):
        with pytest.raises(
            RegistryError, match=f"{app.id} is revoked, which is final: cannot make it {status}"
        ):
            await registry.set_status(app.id, status)
    with pytest.raises(RegistryError, match="is revoked, which is final: cannot change its tier"):
        await registry.set_tier(app.id, Tier.PRIVATE)
    with pytest.raises(RegistryError, match="is revoked, which is final: cannot create a key"):
        await registry.create_key(app.id)


async def test_illegal_transitions_are_refused(registry: Registry) -> None:
    app = await registry.register(organisation="Acme", application="A", tier=Tier.PUBLIC)
    with pytest.raises(RegistryError, match=f"application {app.id} is pending: it cannot become suspended"):
        await registry.set_status(app.id, ReviewStatus.SUSPENDED)
    await registry.set_status(app.id, ReviewStatus.APPROVED)
    with pytest.raises(RegistryError, match="is approved: it cannot become pending"):
        await registry.set_status(app.id, ReviewStatus.PENDING)


async def test_unknown_ids_are_named_in_the_error(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="no application with id 'app_nope'"):
        await registry.get("app_nope")
    with pytest.raises(RegistryError, match="no application with id 'app_nope'"):
        await registry.set_status("app_nope", ReviewStatus.APPROVED)
    with pytest.raises(RegistryError, match="no application with id 'app_nope'"):
        await registry.list_keys("app_nope")
    with pytest.raises(RegistryError, match="no API key with id 'key_nope'"):
        await registry.revoke_key("key_nope")


async def test_contacts_are_validated(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="contact role must be one of business, technical, security"):
        await registry.register(
            organisation="Acme",
            application="A",
            tier=Tier.PUBLIC,
            contacts=[ContactView(role="boss", name="X", email="x@acme.example")],
        )
    with pytest.raises(RegistryError, match="contact email 'nobody' is not an e-mail address"):
        await registry.register(
            organisation="Acme",
            application="A",
            tier=Tier.PUBLIC,
            contacts=[ContactView(role="security", name="X", email="nobody")],
        )
    assert await registry.list() == []


async def test_set_tier(registry: Registry) -> None:
    app = await registry.register(organisation="Acme", application="A", tier=Tier.PUBLIC)
    changed = await registry.set_tier(app.id, Tier.PARTNER)
    assert changed.tier is Tier.PARTNER
    assert (await registry.get(app.id)).tier is Tier.PARTNER


async def test_key_is_shown_once_and_only_its_hash_is_stored(registry: Registry, db: Database) -> None:
    app = await registry.register(organisation="Acme", application="A", tier=Tier.PUBLIC)
    issued = await registry.create_key(app.id, label="ci")

    # kmn_<16 hex lookup prefix>_<256-bit secret, base64url>
    assert re.fullmatch(r"kmn_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", issued.api_key)
    assert issued.key.prefix == issued.api_key[4:20]
    assert issued.key.label == "ci" and issued.key.revoked_at is None
    assert ID.match(issued.key.id)
    # Never handed out again.
    listed = await registry.list_keys(app.id)
    assert listed == [issued.key]
    assert issued.api_key not in repr(listed)

    async with db.read() as session:
        row = (await session.execute(select(ApiKey))).scalar_one()
        assert row.digest == keys.digest_of(issued.api_key)
        secret = issued.api_key[21:]
        for table in ("api_keys", "applications", "organisations", "contacts", "generations"):
            for record in (await session.execute(text(f"SELECT * FROM {table}"))).all():  # noqa: S608
                dumped = repr(tuple(record))
                assert issued.api_key not in dumped
                assert secret not in dumped


async def test_rotation_and_revoking_one_key(registry: Registry) -> None:
    app = await registry.register(organisation="Acme", application="A", tier=Tier.PUBLIC)
    old = await registry.create_key(app.id, label="old")
    new = await registry.create_key(app.id, label="new")
    assert old.api_key != new.api_key and old.key.prefix != new.key.prefix

    revoked = await registry.revoke_key(old.key.id)
    assert revoked.revoked_at is not None
    keys_now = {key.id: key for key in await registry.list_keys(app.id)}
    assert keys_now[old.key.id].revoked_at == revoked.revoked_at
    assert keys_now[new.key.id].revoked_at is None
    with pytest.raises(RegistryError, match=f"API key {old.key.id} was already revoked at "):
        await registry.revoke_key(old.key.id)


async def test_every_change_bumps_the_registry_generation(registry: Registry, db: Database) -> None:
    app = await registry.register(organisation="Acme", application="A", tier=Tier.PUBLIC)
    seen = [await _generation(db)]

    async def bumped() -> bool:
        seen.append(await _generation(db))
        return seen[-1] > seen[-2]

    await registry.set_status(app.id, ReviewStatus.APPROVED)
    assert await bumped()
    await registry.set_tier(app.id, Tier.MEMBER)
    assert await bumped()
    issued = await registry.create_key(app.id)
    assert await bumped()
    await registry.revoke_key(issued.key.id)
    assert await bumped()
    # No change, no bump.
    await registry.set_status(app.id, ReviewStatus.APPROVED)
    assert not await bumped()
