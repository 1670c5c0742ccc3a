"""The login page (fields ``username``, ``password``) and the second-factor page (field ``otp``, or a
passkey through a small inline script; the one-time code works without JavaScript)."""

from __future__ import annotations

from html import escape

from kaimen.identity.i18n import Locale, text
from kaimen.identity.pages.base import Page, button, error_block, form, hidden, text_field

LOGIN_PATH = "/login"
OTP_PATH = "/login/otp"
PASSKEY_PATH = "/login/passkey"


def login_page(locale: Locale, csrf: str, client_name: str | None, error: str | None = None) -> Page:
    intro = f"<p>{escape(text(locale, 'login.intro', client=client_name))}</p>" if client_name else ""
    fields = [
        text_field(text(locale, "login.username"), "username", autocomplete="username"),
        text_field(
            text(locale, "login.password"), "password", kind="password", autocomplete="current-password"
        ),
        button(text(locale, "continue")),
    ]
    body = intro + error_block(error) + form(LOGIN_PATH, csrf, fields)
    return Page(locale, text(locale, "login.title"), body)


# Reads the options the page carries, calls navigator.credentials.get() and posts the response in the
# JSON shape of WebAuthn Level 3 §5.1 (PublicKeyCredential.toJSON), base64url without padding.
PASSKEY_SCRIPT = """(function () {
  var data = document.getElementById('passkey-options');
  var button = document.getElementById('passkey-button');
  var form = document.getElementById('passkey-form');
  if (!data || !button || !form || !window.PublicKeyCredential) { return; }
  function toBuffer(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) { s += '='; }
    var raw = atob(s), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }
  function toText(buffer) {
    var bytes = new Uint8Array(buffer), s = '';
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  }
  button.hidden = false;
  button.addEventListener('click', function () {
    var options = JSON.parse(data.textContent);
    options.challenge = toBuffer(options.challenge);
    (options.allowCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    navigator.credentials.get({publicKey: options}).then(function (credential) {
      var r = credential.response;
      form.elements.credential.value = JSON.stringify({
        id: credential.id, rawId: toText(credential.rawId), type: credential.type,
        response: {
          clientDataJSON: toText(r.clientDataJSON), authenticatorData: toText(r.authenticatorData),
          signature: toText(r.signature), userHandle: r.userHandle ? toText(r.userHandle) : null
        },
        clientExtensionResults: credential.getClientExtensionResults()
      });
      form.submit();
    }).catch(function () { document.getElementById('passkey-error').hidden = false; });
  });
})();"""


def _json_in_script(value: str) -> str:
    """JSON placed inside a <script> element: no '<', '>' or '&' that could end it early."""
    return value.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def second_factor_page(
    locale: Locale, csrf: str, display_name: str, passkey_options: str | None, error: str | None = None
) -> Page:
    otp_fields = [
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
        + form(OTP_PATH, csrf, otp_fields)
    )
    head, script = "", None
    if passkey_options is not None:
        passkey_fields = [
            hidden("credential", ""),
            f"<p>{escape(text(locale, 'sca.or'))}</p>",
            f'<button type="button" id="passkey-button" hidden>{escape(text(locale, "sca.passkey"))}'
            "</button>",
            f'<p id="passkey-error" class="error" hidden>{escape(text(locale, "sca.passkey_failed"))}</p>',
        ]
        body += form(PASSKEY_PATH, csrf, passkey_fields, form_id="passkey-form")
        data = _json_in_script(passkey_options)
        head = f'<script type="application/json" id="passkey-options">{data}</script>'
        script = PASSKEY_SCRIPT
    return Page(locale, text(locale, "sca.title"), body, script=script, head=head)
