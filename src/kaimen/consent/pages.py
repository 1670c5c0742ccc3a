"""The dashboard's pages: login (``username``, ``password``), one-time code (``otp``), the list of
consents with a revoke form each (hidden ``kind`` and ``consent_id``), and an error page. Same frame,
CSP and headers as the login pages (kaimen.identity.pages.base); every text in English and Traditional
Chinese."""

from __future__ import annotations

from datetime import datetime
from html import escape

from kaimen.consent.holdings import Holding, access_text, account_label
from kaimen.identity.i18n import Locale, text
from kaimen.identity.pages.base import Page, button, error_block, form, hidden, text_field

HOME = "/dashboard"
LOGIN = "/dashboard/login"
OTP = "/dashboard/login/otp"
REVOKE = "/dashboard/revoke"
LOGOUT = "/dashboard/logout"


def login_page(locale: Locale, csrf: str, error: str | None = None, status: int = 200) -> Page:
    fields = [
        text_field(text(locale, "login.username"), "username", autocomplete="username"),
        text_field(
            text(locale, "login.password"), "password", kind="password", autocomplete="current-password"
        ),
        button(text(locale, "continue")),
    ]
    body = (
        f"<p>{escape(text(locale, 'dashboard.login.intro'))}</p>"
        + error_block(error)
        + form(LOGIN, csrf, fields)
    )
    return Page(locale, text(locale, "dashboard.login.title"), body, status=status)


def otp_page(locale: Locale, csrf: str, display_name: str, error: str | None = None) -> Page:
    fields = [
        text_field(
            text(locale, "sca.otp"),
            "otp",
            autocomplete="one-time-code",
            extra='inputmode="numeric" pattern="[0-9]{6}" maxlength="6"',
        ),
        button(text(locale, "continue")),
    ]
    body = (
        f"<p>{escape(text(locale, 'signed_in', name=display_name))}</p>"
        + error_block(error)
        + form(OTP, csrf, fields)
    )
    return Page(locale, text(locale, "sca.title"), body)


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _items(values: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(value)}</li>" for value in values) + "</ul>"


def _holding(locale: Locale, csrf: str, holding: Holding) -> str:
    until = _when(holding.expires_at) if holding.expires_at else text(locale, "dashboard.no_end")
    used = _when(holding.last_used) if holding.last_used else text(locale, "dashboard.never")
    revoke = form(
        REVOKE,
        csrf,
        [
            hidden("kind", holding.kind),
            hidden("consent_id", holding.consent_id),
            button(text(locale, "dashboard.revoke", client=holding.client_name)),
        ],
    )
    return (
        f'<section class="holding" data-consent-id="{escape(holding.consent_id)}">'
        f"<h2>{escape(holding.client_name)}</h2>"
        f"<p>{escape(text(locale, 'dashboard.sees'))}</p>"
        + _items([access_text(locale, key) for key in holding.access])
        + f"<p>{escape(text(locale, 'dashboard.accounts'))}</p>"
        + _items([account_label(locale, account) for account in holding.accounts])
        + f"<p>{escape(text(locale, 'dashboard.until'))} {escape(until)}</p>"
        f"<p>{escape(text(locale, 'dashboard.last_used'))} {escape(used)}</p>"
        f'<p class="note">{escape(text(locale, "consent.reference"))}: {escape(holding.consent_id)}</p>'
        f"{revoke}</section>"
    )


def list_page(
    locale: Locale,
    csrf: str,
    display_name: str,
    holdings: list[Holding],
    error: str | None = None,
    status: int = 200,
) -> Page:
    logout = form(LOGOUT, csrf, [button(text(locale, "dashboard.logout"))])
    if holdings:
        listed = "".join(_holding(locale, csrf, holding) for holding in holdings)
    else:
        listed = f'<p id="none">{escape(text(locale, "dashboard.none"))}</p>'
    body = (
        f"<p>{escape(text(locale, 'signed_in', name=display_name))}</p>"
        + error_block(error)
        + f"<p>{escape(text(locale, 'dashboard.intro'))}</p>"
        + listed
        + logout
    )
    return Page(locale, text(locale, "dashboard.title"), body, status=status)


def error_page(locale: Locale, key: str, status: int) -> Page:
    body = (
        error_block(text(locale, key))
        + f'<p><a href="{LOGIN}">{escape(text(locale, "dashboard.again"))}</a></p>'
    )
    return Page(locale, text(locale, "dashboard.error.title"), body, status=status)
