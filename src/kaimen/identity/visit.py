"""One request to a login page: its locale, login session and form, and the answers pages share."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kaimen.identity.i18n import Locale
from kaimen.identity.interactions import LoginSession

MAX_FIELDS = 64
REPEATABLE = frozenset({"account_id"})  # the consent form's checkboxes


class FormError(Exception):
    """The body is not a form these pages accept (wrong media type, files, a field sent twice)."""


@dataclass(slots=True)
class Visit:
    request: Request
    locale: Locale
    login: LoginSession
    form: dict[str, list[str]]

    def one(self, name: str) -> str:
        values = self.form.get(name, [])
        return values[0] if values else ""

    def many(self, name: str) -> list[str]:
        return self.form.get(name, [])

    @property
    def client_ip(self) -> str:
        """The gateway's client IP (trusted-proxy aware), or the socket peer without the gateway."""
        call = self.request.scope.get("kaimen")
        if call is not None:
            return str(call.client_ip)
        return self.request.client.host if self.request.client else "unknown"


async def read_form(request: Request) -> dict[str, list[str]]:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise FormError
    form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    values: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str) or (key in values and key not in REPEATABLE):
            raise FormError
        values.setdefault(key, []).append(value)
    return values


def see_other(location: str) -> Response:
    """RFC 9110 §15.4.4: after a POST, 303 makes the browser GET the next page."""
    return RedirectResponse(location, status_code=303)
