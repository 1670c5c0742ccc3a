"""Structured JSON logs (issue 2, item 4): one JSON object per line with time (UTC), level, logger,
message and the call's interaction id; never an API key, token, password, query string or header."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from kaimen.events import EventBus
from kaimen.gateway.accesslog import subscribe_access_log
from kaimen.gateway.apis import ApiTable
from kaimen.gateway.clientip import ClientIpResolver
from kaimen.gateway.entry import Entry
from kaimen.logs import MASK, configure_logging, redact
from tests.support import client_for, lifespan
from tests.test_ratelimit import APIS

KEY = "kmn_0123456789abcdef_" + "A" * 43
TOKEN = "eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    """Configures JSON logging into a buffer; yields a function returning the parsed lines."""
    touched = [logging.getLogger(name) for name in ("", "httpx", "httpcore")]
    saved = [(logger, logger.handlers[:], logger.level) for logger in touched]
    buffer = io.StringIO()
    configure_logging("INFO", stream=buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    for logger, handlers, level in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)


def test_a_line_is_one_json_object_with_the_standard_fields(log_lines: Lines) -> None:
    logging.getLogger("kaimen.test").warning("hello %s", "world", extra={"api": "opendata.atm"})
    [line] = log_lines()
    assert set(line) == {"time", "level", "logger", "message", "api"}
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", "kaimen.test", "hello world")
    assert line["api"] == "opendata.atm"
    assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)


def test_below_the_level_nothing_is_written(log_lines: Lines) -> None:
    logging.getLogger("kaimen.test").debug("quiet")
    assert log_lines() == []


def test_keys_and_credentials_are_masked_wherever_they_appear(log_lines: Lines) -> None:
    log = logging.getLogger("kaimen.test")
    log.warning("key %s in the message", KEY)
    log.warning("header", extra={"detail": f"Authorization: Bearer {TOKEN}", "note": f"DPoP {TOKEN}"})
    log.warning("named", extra={"api_key": "anything", "password": "hunter2", "refresh_token": "x"})
    try:
        raise ValueError(f"bad key {KEY}")
    except ValueError:
        log.exception("failed")
    text = json.dumps(log_lines())
    assert KEY not in text and KEY[4:] not in text
    assert TOKEN not in text
    assert "hunter2" not in text
    first, second, third, fourth = log_lines()
    assert first["message"] == f"key kmn_{MASK} in the message"
    assert (second["detail"], second["note"]) == (f"Authorization: Bearer {MASK}", f"DPoP {MASK}")
    assert (third["api_key"], third["password"], third["refresh_token"]) == (MASK, MASK, MASK)
    assert f"bad key kmn_{MASK}" in fourth["exception"]


def test_redact_leaves_ordinary_text_alone() -> None:
    for text in (
        "GET /open-banking/v2.3/atms 200 for app-1 (key id key_abc)",
        "invalid DPoP proof",
        "Basic current account, bearer of the card",
    ):
        assert redact(text) == text


def _gateway(events: EventBus) -> Any:
    async def handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
        logging.getLogger("kaimen.test.handler").info("handling")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return Entry(handler, apis=ApiTable(APIS), client_ip=ClientIpResolver([]), events=events)


async def test_lines_of_a_call_carry_its_interaction_id_and_no_secret(log_lines: Lines) -> None:
    events = EventBus()
    subscribe_access_log(events)
    interaction_id = str(uuid.uuid4())
    async with client_for(_gateway(events)) as http:
        response = await http.get(
            "/public?secret=query-value",
            headers={"x-fapi-interaction-id": interaction_id, "x-api-key": KEY, "authorization": "Bearer x"},
        )
    assert response.status_code == 200
    handling, access = log_lines()
    assert handling["message"] == "handling"
    assert handling["interaction_id"] == interaction_id
    assert set(access) == {
        "time",
        "level",
        "logger",
        "message",
        "interaction_id",
        "method",
        "api",
        "route",
        "status",
        "latency_ms",
        "client_ip",
        "application_id",
        "customer_present",
    }
    assert access["logger"] == "kaimen.access"
    assert (access["interaction_id"], access["method"], access["api"]) == (
        interaction_id,
        "GET",
        "test.public",
    )
    assert (access["status"], access["client_ip"], access["application_id"]) == (200, "203.0.113.7", None)
    assert access["latency_ms"] >= 0
    assert access["customer_present"] is None  # not a UK OB API
    text = json.dumps(log_lines())
    for secret in (KEY, "query-value", "secret=", "Bearer"):
        assert secret not in text


async def test_no_interaction_id_outside_a_call(log_lines: Lines) -> None:
    logging.getLogger("kaimen.test").warning("start-up")
    [line] = log_lines()
    assert "interaction_id" not in line


async def test_full_app_access_log_holds_no_key(
    make_settings: Any, sqlite_url: str, log_lines: Lines
) -> None:
    from kaimen.app import create_app

    app = create_app(make_settings(database_url=sqlite_url, access_log=True))
    async with lifespan(app), client_for(app) as http:
        response = await http.get("/open-banking/v2.3/atms", headers={"x-api-key": KEY})
    access = [line for line in log_lines() if line["logger"] == "kaimen.access"]
    assert len(access) == 1
    assert access[0]["status"] == response.status_code
    assert access[0]["interaction_id"] == response.headers["x-fapi-interaction-id"]
    assert KEY[4:] not in json.dumps(log_lines())


async def test_authorization_server_lines_carry_the_interaction_id(
    make_settings: Any, sqlite_url: str, log_lines: Lines
) -> None:
    """The OAuth endpoints and the login pages go through the gateway too: their access lines and the
    lines they log themselves (here the token endpoint failing) carry the call's interaction id."""
    from kaimen.app import create_app

    class Failing:  # the token endpoint's first step of client authentication fails
        async def verify(self, *_: Any, **__: Any) -> Any:
            raise RuntimeError("client store failed")

    app = create_app(make_settings(database_url=sqlite_url, access_log=True))
    sent = str(uuid.uuid4())
    async with lifespan(app), client_for(app) as http:
        app.components.authz.token.client_auth = Failing()
        form, headers = {"grant_type": "client_credentials"}, {"x-fapi-interaction-id": sent}
        failed = await http.post("/oauth2/token", data=form, headers=headers)
        page = await http.get("/login")
        discovery = await http.get("/.well-known/openid-configuration")
    assert (failed.status_code, failed.json()["error"]) == (500, "server_error")
    assert failed.headers["x-fapi-interaction-id"] == sent
    lines = log_lines()
    [error] = [line for line in lines if line["message"] == "oauth endpoint failed"]
    assert (error["level"], error["logger"], error["interaction_id"]) == ("ERROR", "kaimen.authz", sent)
    assert "client store failed" in error["exception"]
    access = [line for line in lines if line["logger"] == "kaimen.access"]
    assert [(line["api"], line["route"], line["status"], line["interaction_id"]) for line in access] == [
        ("oauth", "/oauth2/token", 500, sent),
        ("login", "/login", 400, page.headers["x-fapi-interaction-id"]),
        ("oauth", "/.well-known/openid-configuration", 200, discovery.headers["x-fapi-interaction-id"]),
    ]
    assert len({line["interaction_id"] for line in access}) == 3
