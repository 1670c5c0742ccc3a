"""HTTP helpers every OAuth endpoint shares: error rendering (one place) and form parsing."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from kaimen.authz.errors import InvalidRequest, OAuthError, ServerError, TemporarilyUnavailable
from kaimen.gateway.boundary import database_unreachable
from kaimen.gateway.context import record_error_code
from kaimen.store.direct import DatabaseBusy

log = logging.getLogger("kaimen.authz")

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
FORM = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 64


def oauth_error_response(error: OAuthError, request: Request | None = None) -> Response:
    """RFC 6749 §5.2: JSON body, the error's status, Cache-Control: no-store. The code is noted on the
    gateway's call of ``request`` for the metrics."""
    if request is not None:
        record_error_code(request.scope, error.error)
    return Response(
        error.body(),
        status_code=error.status,
        media_type="application/json",
        headers={**NO_STORE, **error.headers},
    )


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body, status_code=status, media_type="application/json", headers={**NO_STORE, **(headers or {})}
    )


async def read_form(request: Request) -> dict[str, str]:
    """The form body of a POST (RFC 6749 §3.2: application/x-www-form-urlencoded). A parameter sent more
    than once is refused (RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than
    once"); so are files and non-form bodies."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != FORM:
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    body = await request.body()  # its size was bounded by the gateway (kaimen.gateway.limits)
    try:
        # The WHATWG urlencoded parser's rules: "&" separates, "+" is a space, percent-escapes are
        # UTF-8 (a malformed one is refused, never replaced).
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeError, ValueError) as exc:
        raise InvalidRequest("the body is not a valid application/x-www-form-urlencoded form") from exc
    values: dict[str, str] = {}
    for key, value in pairs:
        if key in values:
            raise InvalidRequest(f"parameter {key} included more than once")
        values[key] = value
    return values


def server_error(exc: BaseException, request: Request | None = None) -> Response:
    log.error("oauth endpoint failed", exc_info=exc)
    return oauth_error_response(ServerError(), request)


Handler = Callable[[Request], Awaitable[Response]]


def store_unreachable(exc: BaseException) -> bool:
    """The database (kaimen.gateway.boundary.database_unreachable) or Redis refused or dropped the
    connection, anywhere in the exception chain."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    if database_unreachable(exc):
        return True
    seen: BaseException | None = exc
    for _ in range(8):  # chains are short; a cycle must not hang a response
        if seen is None:
            return False
        if isinstance(seen, (RedisConnectionError, RedisTimeoutError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def oauth_endpoint(handler: Handler) -> Handler:
    """Wrap an endpoint so an OAuthError becomes its RFC 6749 §5.2 response and anything unexpected a
    bare server_error (nothing about internals on the wire)."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except OAuthError as error:
            return oauth_error_response(error, request)
        except DatabaseBusy:
            log.warning("database busy past the deadline")
            return oauth_error_response(TemporarilyUnavailable(headers={"Retry-After": "1"}), request)
        except Exception as exc:
            if store_unreachable(exc):
                # The database or Redis (one-time jti records) cannot be reached: refuse rather than
                # accept a possible replay, and say it is passing (RFC 6749 §4.1.2.1's code).
                log.warning("a shared store is unreachable", extra={"error": type(exc).__name__})
                return oauth_error_response(TemporarilyUnavailable(headers={"Retry-After": "1"}), request)
            return server_error(exc, request)

    return endpoint
