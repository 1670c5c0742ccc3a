"""The bank's customers as the authorization server meets them (issue 3, item 5).

password.py      Argon2id password hashes (argon2-cffi), constant-cost verification
totp.py          RFC 6238 one-time codes: SHA-1, 6 digits, 30 s steps, each step usable once
throttle.py      per-IP login throttle (``limits``) and the per-customer lock with back-off
customers.py     creating customers, checking their password and code, unlocking them
passkeys.py      WebAuthn passkeys (py_webauthn) as the second factor
interactions.py  the login session (AuthSession): cookie, CSRF token, steps login -> SCA -> consent
visit.py         one request to a login page: locale, session, form; 303 answers
consent_step.py  the consent answer, handed to the authorization flow once
i18n.py          page texts in English and Traditional Chinese, chosen by Accept-Language
pages/           the HTML of the login, second-factor, consent and error pages
routes.py        the /login endpoints
"""
