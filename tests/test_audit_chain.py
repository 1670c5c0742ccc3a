"""The audit record's content and the chain's canonical encoding (kaimen.audit.record, .chain)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from kaimen.audit.chain import GENESIS, encode_body, link
from kaimen.audit.record import AuditFields, fields_of
from kaimen.errors.render import Family
from kaimen.gateway.apis import Api
from kaimen.gateway.context import Call, Caller
from kaimen.settings import ApiPolicy
from kaimen.tiers import Tier

ATM = Api(
    name="opendata.atm",
    path="/open-banking/v2.3/atms",
    family=Family.OPENDATA,
    media_type="application/prs.openbanking.opendata.v2.3+json",
    policy=ApiPolicy(tier=Tier.PUBLIC),
)
AT = datetime(2026, 11, 26, 10, 0, 0, 250_000, tzinfo=UTC)
WALL_NS = int(AT.timestamp()) * 1_000_000_000 + 250_000_000


def fields(**changes: Any) -> AuditFields:
    base = AuditFields(
        AT, "6f1c7d2e-0000-4000-8000-000000000001", None, "none", "GET", "unmatched", 404, 12, "203.0.113.7"
    )
    return base._replace(**changes)


def test_record_of_a_matched_call_by_an_application() -> None:
    call = Call(
        interaction_id="6f1c7d2e-0000-4000-8000-000000000001",
        client_ip="203.0.113.7",
        api=ATM,
        started_ns=1_000_000,
        method="GET",
        status=200,
        caller=Caller(application_id="app_1", organisation_id="org_1", tier="PUBLIC", key_id="key_1"),
    )
    # Started at perf_counter 1 ms, which the offset puts at AT; ended 2.5 ms later.
    record = fields_of(call, ended_ns=3_500_000, wall_offset_ns=WALL_NS - 1_000_000)
    assert record == AuditFields(
        AT,
        "6f1c7d2e-0000-4000-8000-000000000001",
        "app_1",
        "opendata.atm",
        "GET",
        "/open-banking/v2.3/atms",
        200,
        2500,
        "203.0.113.7",
    )


def test_route_template_wins_over_api_path_and_unknown_paths_are_unmatched() -> None:
    call = Call(
        interaction_id="i",
        client_ip="ip",
        api=ATM,
        started_ns=0,
        method="GET",
        route="/open-banking/v2.3/atms/{id}",
    )
    assert fields_of(call, 0, WALL_NS).route == "/open-banking/v2.3/atms/{id}"
    anonymous = Call(interaction_id="i", client_ip="ip", api=None, started_ns=0, method="GET")
    assert (fields_of(anonymous, 0, WALL_NS).api, fields_of(anonymous, 0, WALL_NS).route) == (
        "none",
        "unmatched",
    )


def test_client_chosen_method_is_normalised() -> None:
    call = Call(interaction_id="i", client_ip="ip", api=None, started_ns=0, method="X" * 40)
    assert fields_of(call, 0, WALL_NS).method == "OTHER"


def test_digest_follows_the_documented_encoding() -> None:
    def field(data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + data

    expected = hashlib.sha256(
        b"kaimen.audit.v1\n"
        + GENESIS.encode()
        + field(b"1")
        + field(b"1795687200250000")
        + field(b"6f1c7d2e-0000-4000-8000-000000000001")
        + b"\xff\xff\xff\xff"
        + field(b"none")
        + field(b"GET")
        + field(b"unmatched")
        + field(b"404")
        + field(b"12")
        + field(b"203.0.113.7")
    ).hexdigest()
    assert link(GENESIS, 1, encode_body(fields())) == expected


def test_encoding_is_unambiguous() -> None:
    # NULL is not the empty string, and moving bytes across a field boundary changes the digest.
    assert encode_body(fields(application_id=None)) != encode_body(fields(application_id=""))
    assert encode_body(fields(api="ab", method="c")) != encode_body(fields(api="a", method="bc"))


def test_digest_covers_seq_and_the_previous_digest() -> None:
    body = encode_body(fields())
    assert link(GENESIS, 1, body) != link(GENESIS, 2, body)
    assert link(GENESIS, 1, body) != link("f" * 64, 1, body)
