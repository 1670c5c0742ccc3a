"""The authorization endpoint (RFC 6749 §3.1), fed only by pushed requests (RFC 9126 §4).

OIDC Core §3.1.2.1: "Authorization Servers MUST support the use of the HTTP GET and POST methods defined
in RFC 7231 at the Authorization Endpoint": GET with the parameters in the query, POST with them in an
application/x-www-form-urlencoded body (Form Serialization, §13.2); both answer alike (303 onwards). A
POST here is the client's request carried by the browser from the client's own page, not a form of
Kaimen's, so it carries no CSRF token: like the GET, it can only start a login for a request the
client pushed, and the login pages check their own CSRF token.

It reads ``client_id`` and ``request_uri`` and nothing else: every other parameter is ignored
and never overrides a pushed one (RFC 9101 §5: the server "MUST only use the parameters in the Request
Object"; RFC 9126 §4 applies that to pushed requests). Until the request_uri is known to be valid the
redirect URI is not trusted, so every refusal is an error page (HTML, 400), never a redirect
(RFC 6749 §4.1.2.1: "the authorization server ... MUST NOT automatically redirect the user-agent to
the invalid redirection URI"). A valid request goes to the customer's pages (identity/), except one
pushed with prompt=none: OIDC Core §3.1.2.1, "The Authorization Server MUST NOT display any
authentication or consent user interface pages. An error is returned if an End-User is not already
authenticated". Kaimen keeps no login session between requests, so no customer ever is: it ends at once
with login_required (§3.1.2.6) on the client's redirect URI, with iss and state, and is consumed.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Protocol

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from kaimen.authz.errors import InvalidRequestUri, LoginRequired, OAuthError
from kaimen.authz.http import FORM
from kaimen.authz.ports import Clients, Interactions
from kaimen.authz.pushed import PushedRequest, PushedRequests
from kaimen.identity.i18n import Locale, negotiate
from kaimen.identity.pages.base import Page, page_response

log = logging.getLogger("kaimen.authz")

# Page text only; nothing here is a protocol error_description.
_TITLE: dict[Locale, str] = {"en": "Request refused", "zh-Hant": "請求被拒絕"}
_REASONS: dict[str, dict[Locale, str]] = {
    "missing": {
        "en": "The request names no application or no pushed authorization request.",
        "zh-Hant": "此請求缺少應用程式或推送的授權請求。",
    },
    "client": {
        "en": "The application is unknown or not approved by the bank.",
        "zh-Hant": "此應用程式不明或未獲銀行核准。",
    },
    "request_uri": {
        "en": "This authorization request is unknown, has expired, was already used, or belongs to "
        "another application.",
        "zh-Hant": "此授權請求不明、已過期、已使用，或屬於其他應用程式。",
    },
    "duplicate": {"en": "A parameter was sent more than once.", "zh-Hant": "有參數重複傳送。"},
    "form": {
        "en": "The request's parameters could not be read.",
        "zh-Hant": "無法讀取此請求的參數。",
    },
    "server": {"en": "Something went wrong on our side.", "zh-Hant": "系統發生錯誤。"},
}
_AGAIN: dict[Locale, str] = {
    "en": "Go back to the application you came from and start again.",
    "zh-Hant": "請返回原本的應用程式並重新開始。",
}


class Refusals(Protocol):
    """What the endpoint needs of the authorization flow (kaimen.authz.flow)."""

    async def refuse(self, pushed: PushedRequest, error: OAuthError) -> str: ...


class Refused(Exception):
    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def error_page(request: Request, reason: str, status: int = 400) -> Response:
    """The error page, in the customer's language (English or Traditional Chinese), never a redirect."""
    locale = negotiate(request.headers.get("accept-language"))
    body = f'<p class="error">{escape(_REASONS[reason][locale])}</p><p>{escape(_AGAIN[locale])}</p>'
    return page_response(Page(locale, _TITLE[locale], body, status))


async def authorization_parameters(request: Request) -> QueryParams:
    """The request's parameters: the query of a GET, the form body of a POST (OIDC Core §3.1.2.1: "If
    using the HTTP POST method, the request parameters are serialized using Form Serialization"); the
    query of a POST is not read. A POST body of another media type, or not UTF-8, is refused."""
    if request.method != "POST":
        return request.query_params
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != FORM:
        raise Refused("form")
    try:
        return QueryParams((await request.body()).decode("utf-8"))  # size bounded by the gateway
    except UnicodeDecodeError:
        raise Refused("form") from None


class AuthorizeEndpoint:
    def __init__(
        self, *, clients: Clients, pushed: PushedRequests, interactions: Interactions, flow: Refusals
    ) -> None:
        self.clients = clients
        self.pushed = pushed
        self.interactions = interactions
        self.flow = flow

    async def handle(self, request: Request) -> Response:
        try:
            pushed = await self.pushed_request(request)
            if "none" in pushed.params.prompt:
                return await self.without_interaction(pushed)
            return await self.start_interaction(pushed)
        except Refused as refused:
            return error_page(request, refused.reason, refused.status)
        except Exception:
            log.exception("authorization endpoint failed")
            return error_page(request, "server", 500)

    async def pushed_request(self, request: Request) -> PushedRequest:
        """RFC 9126 §4: client_id and request_uri only (of the query or the form); the request_uri must
        have been pushed by that client, be unexpired and unused. The client must (still) be an
        approved one."""
        query = await authorization_parameters(request)
        if any(len(query.getlist(name)) > 1 for name in ("client_id", "request_uri")):
            raise Refused("duplicate")  # RFC 6749 §3.1: "MUST NOT be included more than once"
        client_id, request_uri = query.get("client_id"), query.get("request_uri")
        if not client_id or not request_uri:
            raise Refused("missing")
        client = await self.clients.current(client_id)  # a suspension counts at once, in every worker
        if client is None or client.status != "approved":
            raise Refused("client")
        pushed = await self.pushed.usable(request_uri, client_id)
        if pushed is None:
            raise Refused("request_uri")
        return pushed

    async def without_interaction(self, pushed: PushedRequest) -> Response:
        """prompt=none: login_required, straight back to the client (no page, no login session)."""
        try:
            location = await self.flow.refuse(pushed, LoginRequired())
        except InvalidRequestUri:
            raise Refused("request_uri") from None  # completed by a concurrent request meanwhile
        return Response(status_code=303, headers={"cache-control": "no-store", "location": location})

    async def start_interaction(self, pushed: PushedRequest) -> Response:
        """Hand over to the login, SCA and consent pages: 303 to where they start."""
        response = Response(status_code=303, headers={"cache-control": "no-store"})
        response.headers["location"] = await self.interactions.start(pushed.id, response)
        return response
