"""Dynamic client registration mounted in the real application (behind the gateway), embedded mode:
Kaimen is its own directory."""

from __future__ import annotations

from typing import Any

import httpx

from tests.authz_clients_support import public_jwks, rsa_key


async def test_registration_through_the_gateway(app: Any, client: httpx.AsyncClient) -> None:
    directory = app.components.authz.directory
    statement = directory.sign_software_statement(
        {
            "software_id": "gw-app",
            "org_name": "Gateway Ltd",
            "redirect_uris": ["http://127.0.0.1:9000/cb"],  # sandbox loopback (embedded mode)
            "jwks": public_jwks(rsa_key()),
        }
    )
    response = await client.post("/oauth2/register", json={"software_statement": statement})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["registration_client_uri"] == f"http://localhost:8000/oauth2/register/{body['client_id']}"
    assert response.headers["x-fapi-interaction-id"]
    headers = {"authorization": f"Bearer {body['registration_access_token']}"}
    read = await client.get(body["registration_client_uri"], headers=headers)
    assert read.status_code == 200 and read.json()["client_id"] == body["client_id"]
    refused = await client.get(body["registration_client_uri"])
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
