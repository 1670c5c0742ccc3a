"""The HTML of the login, second-factor, consent and error pages: small builders, every value escaped
with ``html.escape`` (no template engine). Field names follow the DESIGN.md sandbox contract."""
