"""The request body's Content-Type, as the UK OB APIs read it.

UK OB v3.1.11 Read/Write Data API Profile, "Request Headers", Content-Type: "This must be set to
application/json ... The TPP may provide additional information (e.g. a 'q' value and charset). If set
to any other value, the ASPSP must respond with a 415 Unsupported Media Type". So the media type decides,
and its parameters are read as RFC 9110 §8.3.1 defines them (§5.6.6: ``type "/" subtype *( OWS ";" OWS
parameter )``, ``parameter = parameter-name "=" parameter-value``, a value a token or a quoted-string):
"The type and subtype tokens are case-insensitive", "Parameter names are case-insensitive", and "A
parameter value that matches the token production can be transmitted either as a token or within a
quoted-string. The quoted and unquoted values are equivalent". Of the parameters only ``charset``
matters: "The API requests and responses must use a UTF-8 character encoding" (profile, "Character
Encoding"); RFC 9110 §8.3.2: "Charset names ought to be registered in the IANA 'Character Sets'
registry ... but comparison is case-insensitive". Any other parameter (``q`` among them) is ignored.
"""

from __future__ import annotations

import re

# RFC 9110 §5.6.2 token, §5.6.4 quoted-string (qdtext and quoted-pair), §5.6.3 OWS; the Accept field's
# media ranges (kaimen.gateway.accept) are read with the same grammar.
TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
QUOTED = r'"(?:[\t !\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_MEDIA_TYPE = re.compile(rf"[ \t]*({TCHARS})/({TCHARS})[ \t]*")
_PARAMETER = re.compile(rf";[ \t]*(?:({TCHARS})=({TCHARS}|{QUOTED}))?[ \t]*")
_QUOTED_PAIR = re.compile(r"\\(.)")


def parse(header: str) -> tuple[str, dict[str, str]] | None:
    """``type/subtype`` (lower case) and its parameters (names lower case, quoted values unquoted), or
    None when ``header`` is not a media type. RFC 9110 §5.6.6 allows an empty parameter between
    semicolons ("; ;"); a parameter named twice is ambiguous (which charset?), so not a media type."""
    matched = _MEDIA_TYPE.match(header)
    if matched is None:
        return None
    media = f"{matched[1]}/{matched[2]}".lower()
    parameters: dict[str, str] = {}
    at = matched.end()
    while at < len(header):
        parameter = _PARAMETER.match(header, at)
        if parameter is None:
            return None
        name, value = parameter[1], parameter[2]
        if name is not None:
            if value.startswith('"'):
                value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
            if name.lower() in parameters:
                return None
            parameters[name.lower()] = value
        at = parameter.end()
    return media, parameters


def is_utf8_json(header: str) -> bool:
    """The Content-Type is ``application/json``, with no charset or the charset UTF-8."""
    parsed = parse(header)
    if parsed is None:
        return False
    media, parameters = parsed
    return media == "application/json" and parameters.get("charset", "utf-8").lower() == "utf-8"
