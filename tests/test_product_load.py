"""``kaimen products load FILE``: all-or-nothing replacement, errors that name the field path."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kaimen.apis.product.spec import PRODUCT_APIS
from kaimen.apis.product.store import ProductStore
from kaimen.apis.product.validate import ProductDataError, validate_documents
from kaimen.cli.main import cli
from kaimen.demo.products import demo_documents, seed_products
from kaimen.store.db import Database
from tests.product_support import PACKAGED_SPECS, SHARED_SPECS


def _published(database_url: str) -> dict[str, bytes]:
    async def read() -> dict[str, bytes]:
        db = Database(database_url)
        try:
            store = ProductStore(db, None)
            return {api.short: (await store.document(api.short)).body for api in PRODUCT_APIS}
        finally:
            await db.dispose()

    return asyncio.run(read())


def _load(database_url: str, tmp_path: Path, payload: Any) -> Any:
    file = tmp_path / "products.json"
    file.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    runner = CliRunner()
    return runner.invoke(
        cli, ["--data-dir", str(tmp_path), "--database-url", database_url, "products", "load", str(file)]
    )


def _seeded(database_url: str) -> dict[str, bytes]:
    async def seed() -> None:
        db = Database(database_url)
        try:
            await seed_products(db)
        finally:
            await db.dispose()

    asyncio.run(seed())
    return _published(database_url)


def test_a_valid_file_replaces_only_the_apis_it_names(database_url, tmp_path):
    before = _seeded(database_url)
    atms = demo_documents()["atm"]
    atms[0]["Brand"][0]["BrandName"] = "Kaimen Sandbox Bank ATMs"
    result = _load(database_url, tmp_path, {"atm": atms})
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "replaced: atm"
    after = _published(database_url)
    assert json.loads(after["atm"])["data"] == atms
    assert {k: v for k, v in after.items() if k != "atm"} == {k: v for k, v in before.items() if k != "atm"}


def test_loading_the_same_data_again_changes_nothing(database_url, tmp_path):
    before = _seeded(database_url)
    result = _load(database_url, tmp_path, demo_documents())
    assert result.exit_code == 0, result.output
    assert "no change" in result.output
    assert _published(database_url) == before  # same bytes: same ETag and Last-Modified


def test_a_bad_file_is_refused_whole_naming_each_field_path(database_url, tmp_path):
    before = _seeded(database_url)
    documents = demo_documents()
    documents["atm"][0]["Brand"][0]["BrandName"] = "Renamed"  # valid on its own, but the file is not
    documents["pca"][0]["Brand"][0]["PCA"][0]["Name"] = "x" * 351
    del documents["branch"][0]["Brand"][0]["Branch"][2]["PostalAddress"]["PostCode"]
    result = _load(database_url, tmp_path, documents)
    assert result.exit_code != 0
    assert f"pca: data[0].Brand[0].PCA[0].Name: '{'x' * 351}' is too long" in result.output
    assert (
        "branch: data[0].Brand[0].Branch[2].PostalAddress: 'PostCode' is a required property" in result.output
    )
    assert "nothing was changed" in result.output
    assert _published(database_url) == before


def test_a_value_that_breaks_its_format_is_refused_whole(sqlite_url, tmp_path):
    # Swagger 2.0 "Data Types": format "date" is an RFC 3339 full-date; there is no month 99.
    before = _seeded(sqlite_url)
    documents = demo_documents()
    documents["pca"][0]["Brand"][0]["PCA"][0]["PCAMarketingState"][0]["FirstMarketedDate"] = "2020-99-99"
    result = _load(sqlite_url, tmp_path, {"pca": documents["pca"]})
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == [
        "pca: data[0].Brand[0].PCA[0].PCAMarketingState[0].FirstMarketedDate: '2020-99-99' is not a 'date'"
    ]
    assert "refused, nothing was changed" in result.output.splitlines()[0]
    assert _published(sqlite_url) == before


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "not valid JSON"),
        ([], "must be a JSON object"),
        ({}, "must be a JSON object"),
        ({"mortgages": []}, "mortgages: unknown API"),
        ({"atm": {"Brand": []}}, "atm: data: {'Brand': []} is not of type 'array'"),
    ],
)
def test_a_malformed_file_is_refused(sqlite_url, tmp_path, payload: Any, message: str):
    before = _seeded(sqlite_url)
    result = _load(sqlite_url, tmp_path, payload)
    assert result.exit_code != 0
    assert message in result.output
    assert _published(sqlite_url) == before


def test_seeding_never_replaces_existing_data(sqlite_url, tmp_path):
    _seeded(sqlite_url)
    atms = demo_documents()["atm"]
    del atms[0]["Brand"][0]["ATM"][0]
    assert _load(sqlite_url, tmp_path, {"atm": atms}).exit_code == 0
    loaded = _published(sqlite_url)
    assert _seeded(sqlite_url) == loaded


def test_the_demo_bank_is_valid_and_realistic():
    documents = validate_documents(demo_documents())
    counts = {
        short: len(data[0]["Brand"][0][api.resource])
        for api in PRODUCT_APIS
        for short, data in documents.items()
        if short == api.short
    }
    assert counts["pca"] >= 4 and counts["bca"] >= 3
    assert 18 <= counts["atm"] <= 25 and 8 <= counts["branch"] <= 12


def test_validation_errors_name_the_path():
    with pytest.raises(ProductDataError) as refused:
        validate_documents({"atm": [{"Brand": [{"BrandName": "", "ATM": []}]}]})
    assert refused.value.problems == [
        "atm: data[0].Brand[0].ATM: [] should be non-empty",
        "atm: data[0].Brand[0].BrandName: '' should be non-empty",
    ]


@pytest.mark.skipif(not SHARED_SPECS.exists(), reason="../shared/specs not present: nothing to compare with")
@pytest.mark.parametrize("api", PRODUCT_APIS, ids=[a.short for a in PRODUCT_APIS])
def test_packaged_specs_are_byte_identical_to_the_shared_ones(api):
    assert (PACKAGED_SPECS / api.spec_file).read_bytes() == (SHARED_SPECS / api.spec_file).read_bytes()
