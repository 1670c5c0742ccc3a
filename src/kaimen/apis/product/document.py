"""A published Open Data document, rendered once per change: body bytes, validators, cache headers.

- Body: ``{"meta": {...}, "data": [...]}``; ``meta`` carries the five members the Swagger files require
  (LastUpdated, TotalResults, Agreement, License, TermsOfUse; the last three are fixed enums).
- ``ETag``: a strong validator (RFC 9110 §8.8.3), the SHA-256 of the exact body bytes, so two workers
  that render the same data answer the same tag.
- ``Last-Modified`` (RFC 9110 §8.8.2): when the data was last replaced, as an IMF-fixdate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import orjson

from kaimen.apis.product.spec import BY_SHORT

# The fixed meta members of every Open Data v2 response (enums in the Swagger files' "Meta data").
AGREEMENT = (
    "Use of the APIs and any related data will be subject to the terms of the Open Licence and subject"
    " to terms and conditions"
)
LICENSE = "https://www.openbanking.org.uk/open-licence"
TERMS_OF_USE = "https://www.openbanking.org.uk/terms"
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # LastUpdated of an API that has never been loaded


@dataclass(frozen=True, slots=True)
class Document:
    body: bytes
    etag: bytes  # quoted strong entity tag
    last_modified: bytes  # IMF-fixdate
    modified_at: int  # seconds since the epoch, for If-Modified-Since


def total_results(short: str, data: list[Any]) -> int:
    """How many products/ATMs/branches the document lists, across every brand."""
    resource = BY_SHORT[short].resource
    return sum(len(brand.get(resource, ())) for item in data for brand in item.get("Brand", ()))


def render(short: str, data_json: str, updated_at: datetime) -> Document:
    data = orjson.loads(data_json)
    updated_at = updated_at.astimezone(UTC).replace(microsecond=0)
    meta = {
        "LastUpdated": updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "TotalResults": total_results(short, data),
        "Agreement": AGREEMENT,
        "License": LICENSE,
        "TermsOfUse": TERMS_OF_USE,
    }
    body = orjson.dumps({"meta": meta, "data": orjson.Fragment(data_json)})
    return Document(
        body=body,
        etag=b'"' + hashlib.sha256(body).hexdigest()[:40].encode() + b'"',
        last_modified=format_datetime(updated_at, usegmt=True).encode(),
        modified_at=int(updated_at.timestamp()),
    )


def empty(short: str) -> Document:
    return render(short, "[]", NEVER)
