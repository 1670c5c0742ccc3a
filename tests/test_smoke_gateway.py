"""The gateway's spine: interaction id, security headers, errors in the API family's format."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def test_valid_interaction_id_is_echoed(client):
    sent = str(uuid.uuid4())
    response = await client.get("/healthz", headers={"x-fapi-interaction-id": sent})
    assert response.status_code == 200
    assert response.headers["x-fapi-interaction-id"] == sent


async def test_invalid_interaction_id_is_replaced(client):
    response = await client.get("/healthz", headers={"x-fapi-interaction-id": "not-a-uuid"})
    assert UUID_RE.match(response.headers["x-fapi-interaction-id"])
    assert response.headers["x-fapi-interaction-id"] != "not-a-uuid"


async def test_unknown_path_is_404_with_interaction_id_and_security_headers(client):
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert UUID_RE.match(response.headers["x-fapi-interaction-id"])
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {"status": "404", "title": "Not found", "description": "Not found"}


async def test_generated_interaction_ids_are_time_ordered_version_7_uuids(client):
    # RFC 9562 §5.7: the audit log's index on interaction ids then grows at its end.
    first = (await client.get("/healthz")).headers["x-fapi-interaction-id"]
    await asyncio.sleep(0.002)
    second = (await client.get("/healthz")).headers["x-fapi-interaction-id"]
    for value in (first, second):
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert abs(int(parsed.hex[:12], 16) / 1000 - time.time()) < 60
    assert first[:13] < second[:13]


async def test_a_405_outside_every_api_names_the_allowed_methods(client):
    # RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 response
    # containing a list of the target resource's currently supported methods."
    response = await client.delete("/healthz")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json() == {
        "status": "405",
        "title": "Method not allowed",
        "description": "Method not allowed",
    }


async def test_an_upper_case_interaction_id_is_echoed_byte_for_byte(client):
    # UK OB Read/Write Data API Profile, response headers: x-fapi-interaction-id carries "the value
    # received from the corresponding fapi client request header"; RFC 4122 UUIDs may be upper case.
    sent = "93BC1A5E-3F5C-4D4B-9C3A-0F2B6D9E1A77"
    for path, status in (("/healthz", 200), ("/nowhere", 404)):
        response = await client.get(path, headers={"x-fapi-interaction-id": sent})
        assert response.status_code == status
        assert response.headers["x-fapi-interaction-id"] == sent


async def test_an_interaction_id_with_a_trailing_newline_is_replaced(client):
    sent = "93bc1a5e-3f5c-4d4b-9c3a-0f2b6d9e1a77"
    app = client._transport.app
    messages: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/healthz",
        "raw_path": b"/healthz",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost:8000"), (b"x-fapi-interaction-id", sent.encode() + b"\n")],
        "client": ("203.0.113.7", 51234),
        "server": ("localhost", 8000),
        "state": {},
    }
    await app(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    echoed = dict(start["headers"])[b"x-fapi-interaction-id"].decode()
    assert "\n" not in echoed  # a generated id, never the value sent
    assert uuid.UUID(echoed).version == 7
