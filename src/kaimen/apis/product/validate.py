"""Validation of product data against the Open Data v2 Swagger schemas, all or nothing.

The product load file (``kaimen products load FILE``) is one JSON object keyed by API short name; each
value is the ``data`` array that API publishes (the ``data`` member of its 200 response):

    {"pca": [{"Brand": [{"BrandName": "...", "PCA": [...]}]}],
     "bca": [...], "atm": [...], "branch": [...]}

Only the APIs named in the file are replaced; the others keep their data. Every problem in the file is
reported, each naming the API and the field path (``pca: data[0].Brand[0].PCA[0].Name: '...' is too
long``), and nothing is written unless the whole file is valid. Swagger's formats count: a ``date`` that
is not an RFC 3339 full-date is refused like any other error (kaimen.apis.product.formats).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError

from kaimen.apis.product.formats import SWAGGER_FORMATS
from kaimen.apis.product.spec import BY_SHORT

MAX_REPORTED = 50


class ProductDataError(ValueError):
    """Product data was refused; ``problems`` names each offending field path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_REPORTED]
        more = len(problems) - len(shown)
        super().__init__("\n".join(shown + ([f"... and {more} more"] if more > 0 else [])))


@cache
def _validator(short: str) -> Draft4Validator:
    # Swagger 2.0 schema objects are a subset of JSON Schema draft 4 (Swagger 2.0, "Schema Object"); their
    # formats are Swagger's own (kaimen.apis.product.formats), a value that breaks one is refused.
    return Draft4Validator(BY_SHORT[short].data_schema, format_checker=SWAGGER_FORMATS)


def field_path(parts: Iterable[str | int]) -> str:
    """``data[0].Brand[0].PCA[0].Name`` from a jsonschema error path."""
    text = "data"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _problems(short: str, errors: Iterable[ValidationError]) -> list[str]:
    ordered = sorted(errors, key=lambda e: [(isinstance(p, str), str(p).zfill(9)) for p in e.absolute_path])
    return [f"{short}: {field_path(e.absolute_path)}: {e.message}" for e in ordered]


def validate_documents(payload: Any) -> dict[str, list[Any]]:
    """The documents of a product load file, each validated; raises ProductDataError on any problem."""
    if not isinstance(payload, dict) or not payload:
        raise ProductDataError([f"the file must be a JSON object with one or more of: {', '.join(BY_SHORT)}"])
    problems: list[str] = []
    documents: dict[str, list[Any]] = {}
    for short, data in payload.items():
        if short not in BY_SHORT:
            problems.append(f"{short}: unknown API (expected one of: {', '.join(BY_SHORT)})")
            continue
        problems.extend(_problems(short, _validator(short).iter_errors(data)))
        documents[short] = data
    if problems:
        raise ProductDataError(problems)
    return documents
