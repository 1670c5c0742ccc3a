"""Authentication Context Class References (OIDC Core §2 ``acr``): which one an ID token carries when
the client asked for some in ``claims.id_token.acr`` (OIDC Core §5.5.1.1).

UK OB v3.1.11 defines two: ``urn:openbanking:psd2:sca`` (strong customer authentication) and
``urn:openbanking:psd2:ca`` (customer authentication). Kaimen's pages always perform SCA (password
plus a one-time code or a passkey). SCA meets a request for CA as well: its knowledge factor is the
customer authentication, and a second factor is added to it (PSD2 Art. 4(30)). So the value returned
is a requested one the performed authentication meets, SCA first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SCA = "urn:openbanking:psd2:sca"
CA = "urn:openbanking:psd2:ca"
SUPPORTED = (SCA, CA)  # acr_values_supported, in order of preference
MEETS: dict[str, tuple[str, ...]] = {SCA: (SCA, CA), CA: (CA,)}


def requested(claims: Mapping[str, Any]) -> tuple[tuple[str, ...], bool]:
    """The acr values asked for in claims.id_token.acr (``value`` or ``values``, OIDC Core §5.5.1)
    and whether they are Essential; no values when none were named."""
    request = claims.get("id_token", {}).get("acr")
    if not isinstance(request, dict):
        return (), False
    values = request["values"] if "values" in request else [request.get("value")]
    return tuple(v for v in values if v is not None), request.get("essential") is True


def _met(claims: Mapping[str, Any], performed: str) -> str | None:
    """A requested value the authentication that achieved ``performed`` meets (SCA first), or None."""
    values, _ = requested(claims)
    return next((value for value in MEETS.get(performed, (performed,)) if value in values), None)


def unmet(claims: Mapping[str, Any], performed: str) -> bool:
    """Whether an Essential acr request is not met by an authentication that achieved ``performed``.

    OIDC Core §5.5.1.1: "If this is an Essential Claim and the requirement cannot be met, then the
    Authorization Server MUST treat that outcome as a failed authentication attempt." The flow asks
    right after the customer authenticated (kaimen.authz.flow, ``authenticated``)."""
    values, essential = requested(claims)
    return essential and bool(values) and _met(claims, performed) is None


def returned(claims: Mapping[str, Any], performed: str) -> str:
    """The acr the ID token carries for an authentication that achieved ``performed``.

    OIDC Core §5.5.1.1: "If the acr Claim was requested as Essential with a values parameter ... the
    Authorization Server MUST return an acr Claim Value that matches one of the requested values" (an
    Essential request that is not met never gets this far: ``unmet``). A Voluntary request that cannot
    be met gets the truth: the performed value."""
    return _met(claims, performed) or performed
