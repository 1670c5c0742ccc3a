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
_SCHEMAS = "#/components/schemas/"


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


class _Recursive(Exception):
    """A schema that refers to itself, directly or not: it cannot be inlined."""


def _inlined(node: Any, within: tuple[str, ...]) -> Any:
    """``node`` with every ``#/components/schemas/...`` reference replaced by the schema it names. In
    draft 4 a ``$ref`` object stands for its target alone (its siblings are ignored), so the whole
    object is replaced."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_SCHEMAS):
            target = ref[len(_SCHEMAS) :]
            if target in within:
                raise _Recursive(target)
            return _inlined(schema(target), (*within, target))
        return {key: _inlined(value, within) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(value, within) for value in node]
    return node


@cache
def validator(name: str) -> Draft4Validator:
    """A validator of the file's schema ``name``. Its references are inlined once, here: jsonschema
    resolving each ``$ref`` on every validation was most of a payment request's validation time. A
    schema that refers to itself is validated through the file's references instead."""
    try:
        return Draft4Validator(_inlined(schema(name), (name,)))
    except _Recursive:
        pass
    registry: Registry[Any] = Registry().with_resource(
        _URI, Resource.from_contents(spec(), default_specification=DRAFT4)
    )
    return Draft4Validator({"$ref": f"{_URI}#/components/schemas/{name}"}, registry=registry)
