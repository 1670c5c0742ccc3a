"""The consent page: names the TPP, says in plain words what it asks for, lets the customer choose
accounts (checkboxes ``account_id``) and the account to pay from (radios ``debtor_account_id``), and
answers ``decision=approve`` or ``decision=deny`` (DESIGN.md sandbox contract).

The page shows whatever the authorization flow's summary carries: ``client_name``, ``scopes``,
``intent_id``, the consent (``intent``: its permissions in plain words, until when, the transaction
window; for a payment, what is paid to whom, and whether the TPP will receive the account paid from
to refund it), and ``accounts`` and ``debtor_accounts`` (items with ``account_id`` and a ``label``, as
mappings or objects). When re-authenticating a consent, the accounts chosen before are ticked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from kaimen.identity.i18n import TEXTS, Locale, text
from kaimen.identity.pages.base import Page, button, error_block, form

CONSENT_PATH = "/login/consent"


@dataclass(frozen=True, slots=True)
class AccountChoice:
    account_id: str
    label: str


def field_of(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def account_choices(items: Iterable[Any] | None) -> list[AccountChoice]:
    choices = []
    for item in items or ():
        account_id = field_of(item, "account_id")
        if account_id:
            label = field_of(item, "label") or field_of(item, "identification") or account_id
            choices.append(AccountChoice(str(account_id), str(label)))
    return choices


def scope_lines(locale: Locale, scopes: Iterable[str]) -> list[str]:
    lines = []
    for scope in scopes:
        key = f"scope.{scope}"
        lines.append(text(locale, key) if key in TEXTS else text(locale, "scope.other", scope=scope))
    return lines


def permission_lines(locale: Locale, permissions: Iterable[str]) -> list[str]:
    """Each UK OB permission code in plain words; an unknown code as itself (never hidden)."""
    return [
        text(locale, f"permission.{code}") if f"permission.{code}" in TEXTS else code for code in permissions
    ]


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def intent_lines(locale: Locale, intent: Any, client: str) -> list[str]:
    """What the consent asks for, beyond the scope: a payment's amount, payee and reference (dynamic
    linking: the customer sees exactly what they approve) and whether ``client`` will receive the
    account paid from, its permissions, its transaction window, its end."""
    lines = []
    amount = field_of(intent, "amount")
    if amount:
        payee = field_of(intent, "payee")
        lines.append(
            text(locale, "consent.pay", amount=amount, currency=field_of(intent, "currency"), payee=payee)
        )
        lines.append(text(locale, "consent.payee_account", account=field_of(intent, "payee_account")))
        if field_of(intent, "reference"):
            lines.append(text(locale, "consent.payment_reference", reference=field_of(intent, "reference")))
        if field_of(intent, "read_refund_account"):
            # ReadRefundAccount "Yes": the payment answers the TPP with Refund.Account and Debtor.Name
            # (kaimen.apis.payments.refund_account); the customer approves that too, so is told.
            lines.append(text(locale, "consent.refund_account", client=client))
    lines += permission_lines(locale, field_of(intent, "permissions") or ())
    start, end = field_of(intent, "transaction_from"), field_of(intent, "transaction_to")
    if start and end:
        lines.append(text(locale, "consent.history", start=_when(start), end=_when(end)))
    elif start:
        lines.append(text(locale, "consent.history_from", start=_when(start)))
    elif end:
        lines.append(text(locale, "consent.history_to", end=_when(end)))
    expires = field_of(intent, "expires_at")
    if expires:
        lines.append(text(locale, "consent.until", date=_when(expires)))
    elif not amount:  # a payment is made once: "no end date" would mislead
        lines.append(text(locale, "consent.no_end"))
    return lines


def _list(lines: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>"


def _choice_list(name: str, kind: str, choices: list[AccountChoice], chosen: set[str]) -> str:
    items = []
    for index, choice in enumerate(choices):
        field_id = f"{name}-{index}"
        checked = " checked" if choice.account_id in chosen else ""
        value = escape(choice.account_id)
        items.append(
            f'<li><input type="{kind}" id="{field_id}" name="{name}" value="{value}"{checked}>'
            f' <label for="{field_id}">{escape(choice.label)}</label></li>'
        )
    return f"<ul>{''.join(items)}</ul>"


def consent_page(
    locale: Locale,
    csrf: str,
    summary: Any,
    *,
    error: str | None = None,
    chosen_accounts: set[str] | None = None,
    chosen_debtor: str | None = None,
) -> Page:
    client = str(summary.client_name)
    parts = [f"<p>{escape(text(locale, 'consent.intro', client=client))}</p>"]
    parts.append(_list(scope_lines(locale, summary.scopes)))
    intent = field_of(summary, "intent")
    if intent is not None:
        if field_of(intent, "status") == "Authorised":
            parts.append(f"<p>{escape(text(locale, 'consent.reauthorise', client=client))}</p>")
        parts.append(f"<h2>{escape(text(locale, 'consent.details'))}</h2>")
        parts.append(_list(intent_lines(locale, intent, client)))
        if chosen_accounts is None:
            chosen_accounts = set(field_of(intent, "account_ids") or ())
    if summary.intent_id:
        parts.append(
            f"<p>{escape(text(locale, 'consent.reference'))}: <code>{escape(summary.intent_id)}</code></p>"
        )
    fields = []
    accounts = account_choices(field_of(summary, "accounts"))
    if accounts:
        fields.append(f"<fieldset><legend>{escape(text(locale, 'consent.accounts'))}</legend>")
        fields.append(
            _choice_list("account_id", "checkbox", accounts, chosen_accounts or set()) + "</fieldset>"
        )
    debtors = account_choices(field_of(summary, "debtor_accounts"))
    if debtors:
        fields.append(f"<fieldset><legend>{escape(text(locale, 'consent.debtor'))}</legend>")
        chosen = {chosen_debtor} if chosen_debtor else set()
        fields.append(_choice_list("debtor_account_id", "radio", debtors, chosen) + "</fieldset>")
    if intent is not None and field_of(intent, "step_up"):
        # Step-up (issue 5 item 4): a fresh one-time code, field ``otp`` as on the second-factor page
        # (DESIGN.md sandbox contract). Not ``required``: Deny must work without it.
        fields.append(f'<p class="note">{escape(text(locale, "consent.step_up"))}</p>')
        fields.append(
            f'<label for="f-otp">{escape(text(locale, "sca.otp"))}</label>'
            '<input id="f-otp" type="text" name="otp" autocomplete="one-time-code" inputmode="numeric" '
            'pattern="[0-9]{6}" maxlength="6">'
        )
    fields.append(f'<p class="note">{escape(text(locale, "consent.note"))}</p>')
    fields.append(button(text(locale, "consent.approve"), name="decision", value="approve"))
    fields.append(button(text(locale, "consent.deny"), name="decision", value="deny"))
    body = "".join(parts) + error_block(error) + form(CONSENT_PATH, csrf, fields)
    # form-action stays open: the answer to this form redirects to the client's redirect URI.
    return Page(locale, text(locale, "consent.title", client=client), body, form_action_self=False)
