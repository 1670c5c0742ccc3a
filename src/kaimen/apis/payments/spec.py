"""The packaged UK OB v3.1.11 Payment Initiation API spec file (a byte-identical copy of
``../shared/specs/uk-ob-v3.1.11/payment-initiation-openapi.json``) and validators of its schemas.

OpenAPI 3.0 schema objects are a JSON Schema draft 4 dialect; their ``$ref``s resolve within the file.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_FILE = Path(__file__).parent / "specs" / "payment-initiation-openapi.json"
_URI = "urn:uk-ob:v3.1.11:payment-initiation"


@cache
def spec() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SPEC_FILE.read_bytes())
    return document


def schema(name: str) -> dict[str, Any]:
    found: dict[str, Any] = spec()["components"]["schemas"][name]
    return found


def namespaced_enum(name: str) -> frozenset[str]:
    """A code list the file gives as ``x-namespaced-enum`` (extensible, so not a JSON Schema enum)."""
    return frozenset(schema(name)["x-namespaced-enum"])


@cache
def validator(name: str) -> Draft4Validator:
    registry: Registry[Any] = Registry().with_resource(
        _URI, Resource.from_contents(spec(), default_specification=DRAFT4)
    )
    return Draft4Validator({"$ref": f"{_URI}#/components/schemas/{name}"}, registry=registry)
