"""The page frame every login page shares, its security headers, and small escaped HTML builders.

Headers on every page: Content-Security-Policy with ``frame-ancestors 'none'`` (clickjacking) and a
per-response nonce for the one inline style and script; X-Frame-Options DENY for older browsers;
Cache-Control no-store (a page may show a customer's accounts); Referrer-Policy no-referrer.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from starlette.responses import HTMLResponse

from kaimen.identity.i18n import HTML_LANG, Locale, text

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}"
    "label{display:block;margin:.75rem 0 .25rem}input[type=text],input[type=password]{width:100%;"
    "padding:.5rem;font-size:1rem;box-sizing:border-box}button{margin:1rem .5rem 0 0;padding:.5rem 1rem;"
    "font-size:1rem}.error{color:#a00;border:1px solid #a00;padding:.5rem}.note{color:#555}"
)


@dataclass(frozen=True, slots=True)
class Page:
    """What a handler asks to render: the locale, a title and the body's HTML (already escaped)."""

    locale: Locale
    title: str
    body: str
    status: int = 200
    # Where the page's forms may post: None leaves form-action open (the consent form's answer
    # redirects to the client, and CSP form-action also governs redirects after a submission).
    form_action_self: bool = True
    retry_after: int | None = None
    script: str | None = None  # the one inline script, run under the page's CSP nonce
    head: str = ""  # extra <head> content (already escaped), e.g. a JSON data block


def csp(nonce: str, *, form_action_self: bool) -> str:
    directives = [
        "default-src 'none'",
        f"script-src 'nonce-{nonce}'",
        f"style-src 'nonce-{nonce}'",
        "img-src 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
    if form_action_self:
        directives.append("form-action 'self'")
    return "; ".join(directives)


def page_response(page: Page) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    script_tag = f'<script nonce="{nonce}">{page.script}</script>' if page.script else ""
    document = (
        f'<!DOCTYPE html><html lang="{HTML_LANG[page.locale]}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(page.title)} · {escape(text(page.locale, 'bank'))}</title>"
        f'<style nonce="{nonce}">{_STYLE}</style>{page.head}</head>'
        f"<body><p>{escape(text(page.locale, 'bank'))}</p><h1>{escape(page.title)}</h1>"
        f"{page.body}{script_tag}</body></html>"
    )
    headers = {
        "content-security-policy": csp(nonce, form_action_self=page.form_action_self),
        "x-frame-options": "DENY",
        "cache-control": "no-store",
        "pragma": "no-cache",
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
        "content-language": HTML_LANG[page.locale],
    }
    if page.retry_after is not None:
        headers["retry-after"] = str(page.retry_after)
    return HTMLResponse(document, status_code=page.status, headers=headers)


def error_block(message: str | None) -> str:
    return f'<p class="error" role="alert">{escape(message)}</p>' if message else ""


def hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def text_field(label: str, name: str, *, kind: str = "text", autocomplete: str, extra: str = "") -> str:
    field_id = f"f-{escape(name)}"
    return (
        f'<label for="{field_id}">{escape(label)}</label>'
        f'<input id="{field_id}" type="{kind}" name="{escape(name)}" autocomplete="{autocomplete}" '
        f"required {extra}>"
    )


def form(action: str, csrf: str, fields: Iterable[str], *, form_id: str = "") -> str:
    attributes = f' id="{escape(form_id)}"' if form_id else ""
    return (
        f'<form method="post" action="{escape(action)}"{attributes}>'
        f"{hidden('csrf', csrf)}{''.join(fields)}</form>"
    )


def button(label: str, *, name: str = "", value: str = "", extra: str = "") -> str:
    named = f' name="{escape(name)}" value="{escape(value)}"' if name else ""
    return f'<button type="submit"{named} {extra}>{escape(label)}</button>'
