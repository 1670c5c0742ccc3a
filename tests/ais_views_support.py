"""Helpers of the AIS body tests: each endpoint's 200 response schema taken from the UK OB v3.1.11 spec
file (never from Kaimen's code), strict date-time and URI checks, a walk that finds any field the spec
does not declare or any null, and hand-made core records."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from kaimen.ledger.core import (
    SORT_CODE_ACCOUNT_NUMBER,
    Account,
    AccountSubType,
    AccountType,
    Balance,
    BalanceType,
    BankTransactionCode,
    CounterpartyAccount,
    CreditLine,
    CreditLineType,
    EntryStatus,
    Merchant,
    ProprietaryBankTransactionCode,
    Transaction,
)
from kaimen.ledger.money import Money
from tests.support import load_json, ob_spec

SPEC_FILE = ob_spec("account-info-openapi.json")
SPEC_URI = "urn:kaimen:test:uk-ob-v3.1.11:account-info-openapi"
MEDIA_TYPE = "application/json; charset=utf-8"
AT = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
# RFC 3339 date-time with its offset: what "ISO 8601 with offset" means in the spec's date-time fields.
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")

FORMATS = FormatChecker()


@FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str) or not DATE_TIME.match(value):
        return False
    datetime.fromisoformat(value)
    return True


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


@cache
def spec() -> dict[str, Any]:
    document: dict[str, Any] = load_json(SPEC_FILE)
    return document


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its local ``$ref`` (``#/components/...``) followed, however deep."""
    while "$ref" in node:
        target: Any = spec()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def response_schema(path: str) -> dict[str, Any]:
    """The schema the spec file gives the 200 response to GET ``path``."""
    response = resolve(spec()["paths"][path]["get"]["responses"]["200"])
    schema: dict[str, Any] = response["content"][MEDIA_TYPE]["schema"]
    return schema


@cache
def response_validator(path: str) -> Draft4Validator:
    """OpenAPI 3.0 schema objects are a JSON Schema draft 4 dialect; $refs resolve within the file."""
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec(), default_specification=DRAFT4)
    )
    ref = response_schema(path)["$ref"]
    return Draft4Validator({"$ref": f"{SPEC_URI}{ref}"}, registry=registry, format_checker=FORMATS)


def undeclared(schema: dict[str, Any], value: Any, where: str = "") -> Iterator[str]:
    """Every member of ``value`` the schema does not declare (a misspelt field passes a schema without
    ``additionalProperties: false``), and every null."""
    schema = resolve(schema)
    if value is None:
        yield f"{where or '/'}: null"
    elif isinstance(value, dict):
        declared = schema.get("properties", {})
        for name, item in value.items():
            if name in declared:
                yield from undeclared(declared[name], item, f"{where}/{name}")
            else:
                yield f"{where}/{name}: not in the spec"
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from undeclared(schema.get("items", {}), item, f"{where}/{index}")


def assert_conforms(path: str, body: Any) -> None:
    """``body`` is a valid 200 response to GET ``path``, every field named as the spec names it."""
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in response_validator(path).iter_errors(body)]
    errors += list(undeclared(response_schema(path), body))
    assert errors == [], errors[:5]


def make_account(account_id: str = "acc_1", **changes: Any) -> Account:
    fields: dict[str, Any] = {
        "account_id": account_id,
        "customer_id": "cus_alice",
        "status": "Enabled",
        "currency": "GBP",
        "account_type": AccountType.PERSONAL,
        "account_subtype": AccountSubType.CURRENT_ACCOUNT,
        "nickname": "Bills",
        "opening_date": date(2020, 1, 15),
        "scheme_name": SORT_CODE_ACCOUNT_NUMBER,
        "identification": "80200110203345",
        "name": "Alice Chen",
        "product_id": "KSB-PCA-EVERYDAY",
    } | changes
    return Account(**fields)


def make_balance(minor: int, kind: BalanceType = BalanceType.INTERIM_BOOKED, limit: int = 0) -> Balance:
    lines = (CreditLine(False, CreditLineType.PRE_AGREED, Money(limit, "GBP")),) if limit else ()
    return Balance("acc_1", kind, Money(minor, "GBP"), AT, lines)


def make_transaction(transaction_id: str, minor: int, **changes: Any) -> Transaction:
    """A booked card purchase (debit) or transfer in (credit), with every Detail element filled."""
    other = CounterpartyAccount(SORT_CODE_ACCOUNT_NUMBER, "60161331926819", "J Smith")
    fields: dict[str, Any] = {
        "account_id": "acc_1",
        "transaction_id": transaction_id,
        "transaction_reference": f"REF-{transaction_id}",
        "amount": Money(minor, "GBP"),
        "status": EntryStatus.BOOKED,
        "booking_at": AT,
        "value_at": AT,
        "information": f"Entry {transaction_id}",
        "bank_transaction_code": BankTransactionCode("ReceivedCreditTransfer", "DomesticCreditTransfer"),
        "proprietary_code": ProprietaryBankTransactionCode("FPS", "Kaimen"),
        "merchant": Merchant("Corner Shop", "5411"),
        "balance": Money(250_000 + minor, "GBP"),
        "creditor_account": other if minor < 0 else None,
        "debtor_account": other if minor > 0 else None,
    } | changes
    return Transaction(**fields)
