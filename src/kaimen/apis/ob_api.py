"""A UK OB API's entry in the gateway's table: the Account, Funds and Payment APIs are each one."""

from __future__ import annotations

from kaimen.errors.render import Family
from kaimen.gateway.apis import Api
from kaimen.settings import Settings


def ob_api(name: str, base_path: str, settings: Settings) -> Api:
    """Every path under ``base_path`` is the API ``name``: JSON, errors as OBErrorResponse1, the policy
    of ``settings.apis[name]``, which kaimen.settings (OB_APIS) refuses if it would let a call through
    without a DPoP-bound token of the API's scope."""
    return Api(
        name=name,
        path=base_path,
        family=Family.OB,
        media_type="application/json",
        policy=settings.apis[name],
        prefix=True,
    )
