"""ErrorBoundary: the one place where errors become responses.

An ApiError raised by any later step or handler is rendered in the API family's format
(kaimen.errors.render). Anything else is logged with its traceback under the interaction id and
answered with a bare 500 that says nothing about internals.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from kaimen.errors import ApiError, InternalError, MethodNotAllowed, NotFound, ServiceUnavailable
from kaimen.errors.render import Family, error_code, render
from kaimen.gateway.context import Call
from kaimen.store.direct import DatabaseBusy

log = logging.getLogger("kaimen.gateway")


def _rendered(call: Call, error: ApiError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    api = call.error_api
    family = api.family if api else Family.PLAIN
    call.error_code = error_code(family, error)  # for the metrics (kaimen.gateway.metrics)
    status, headers, body = render(family, error, call.interaction_id, api.media_type if api else None)
    headers.append((b"content-length", str(len(body)).encode()))
    return status, headers, body


async def send_error(send: Any, call: Call, error: ApiError) -> None:
    status, headers, body = _rendered(call, error)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def error_response(call: Call, error: ApiError) -> Response:
    """The same rendering, as a Starlette response, for the router's own exception handlers."""
    status, headers, body = _rendered(call, error)
    response = Response(body, status_code=status)
    response.raw_headers = headers
    return response


async def starlette_error_handler(request: Request, exc: Exception) -> Response:
    """Router exception handler: ApiError as-is, 404/405 from routing, anything else a bare 500."""
    call: Call = request.scope["kaimen"]
    if isinstance(exc, ApiError):
        return error_response(call, exc)
    if isinstance(exc, HTTPException) and exc.status_code == 404:
        return error_response(call, NotFound())
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return error_response(call, method_not_allowed(exc))
    if isinstance(exc, DatabaseBusy) or database_unreachable(exc):
        return error_response(call, busy())
    return error_response(call, InternalError())


def method_not_allowed(exc: HTTPException) -> MethodNotAllowed:
    """RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 response
    containing a list of the target resource's currently supported methods." Starlette's routing
    names them in the 405 it raises; they are kept, in a stable order (Starlette joins a set)."""
    allow = (exc.headers or {}).get("Allow", "")
    methods = sorted({method.strip() for method in allow.split(",") if method.strip()})
    return MethodNotAllowed(headers={"Allow": ", ".join(methods)} if methods else None)


def busy() -> ServiceUnavailable:
    """The database stayed locked past the direct-write deadline (kaimen.store.direct), or could not
    be reached: a 503 the client may retry, not a 500."""
    return ServiceUnavailable(headers={"Retry-After": "1"})


def database_unreachable(exc: BaseException) -> bool:
    """The database refused or dropped the connection (restarting, shutting down, network), anywhere
    in the exception chain: an OS connection error, a connection SQLAlchemy invalidated, or a driver
    error of SQLSTATE class 08 (connection exception) or 57P01-57P03 (admin/crash shutdown, cannot
    connect now). Other database errors stay 500s: they are bugs, not outages."""
    seen: BaseException | None = exc
    for _ in range(8):  # a bounded walk: chains are short, and a cycle must not hang a response
        if seen is None:
            return False
        if isinstance(seen, ConnectionError):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        sqlstate = getattr(seen, "sqlstate", None)
        if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _SHUTDOWN_STATES):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_SHUTDOWN_STATES = frozenset({"57P01", "57P02", "57P03"})


class ErrorBoundary:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        call: Call = scope["kaimen"]
        try:
            await self.app(scope, receive, send)
        except ApiError as error:
            if call.status:  # Entry records the status once the response has started
                log.warning("error after response start", extra={"error": type(error).__name__})
                return
            await send_error(send, call, error)
        except DatabaseBusy:
            log.warning("database busy past the deadline", extra={"path": scope.get("path")})
            if not call.status:
                await send_error(send, call, busy())
        except Exception as exc:
            if database_unreachable(exc):
                log.warning("database unreachable", extra={"path": scope.get("path")}, exc_info=exc)
                if not call.status:
                    await send_error(send, call, busy())
                return
            # The router may already have answered with its bare 500 (it re-raises after that).
            log.exception("unexpected error", extra={"path": scope.get("path")})
            if not call.status:
                await send_error(send, call, InternalError())
