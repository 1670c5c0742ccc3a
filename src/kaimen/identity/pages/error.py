"""The error page: shown when the login cannot go on (no session, expired, server trouble). It never
redirects: until the flow has a trusted client and redirect URI there is nowhere safe to send an error."""

from __future__ import annotations

from html import escape

from kaimen.identity.i18n import Locale, text
from kaimen.identity.pages.base import Page


def error_page(locale: Locale, message_key: str, status: int) -> Page:
    return Page(
        locale,
        text(locale, "error.title"),
        f'<p class="error">{escape(text(locale, message_key))}</p>',
        status,
    )
