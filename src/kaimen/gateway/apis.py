"""Which API a request path belongs to, with that API's policy and error family.

A path below an exact API's path (``/open-banking/v2.3/atms/ATM-1``) belongs to no API: it is not
served, identified, tier-checked or rate-limited, like any other unknown path. When that API sets
``errors_below``, its 404 is still answered in the API's error format (:meth:`ApiTable.beneath`):
the Open Data v2 Product API answers errors in its own shape, "404 and 405 included" (issue 2 item 6).
"""

from __future__ import annotations

from dataclasses import dataclass

from kaimen.errors.render import Family
from kaimen.settings import ApiPolicy


@dataclass(frozen=True, slots=True)
class Api:
    name: str  # "opendata.pca"
    path: str  # exact path, or prefix when ``prefix`` is True
    family: Family
    media_type: str
    policy: ApiPolicy
    cacheable: bool = False
    prefix: bool = False
    errors_below: bool = False  # a path below ``path`` that no API serves is refused in this family

    @property
    def honours_customer_headers(self) -> bool:
        """UK OB v3.1.11 defines ``x-fapi-auth-date`` and ``x-fapi-customer-ip-address`` on every
        endpoint of its API files (aisp, pisp, cbpii): each API of that family gets them checked and
        its customer-present and unattended rates applied (kaimen.gateway.customer_headers)."""
        return self.family is Family.OB

    @property
    def negotiates_json(self) -> bool:
        """The UK OB Read/Write Data API Profile's Accept rule ("If set to an unacceptable value the
        ASPSP must respond with a 406") holds on every API of that family (kaimen.gateway.accept)."""
        return self.family is Family.OB


class ApiTable:
    """Exact paths first (one dict lookup), then prefixes, longest first."""

    def __init__(self, apis: list[Api]) -> None:
        self.apis = apis
        self._exact = {api.path: api for api in apis if not api.prefix}
        self._prefixes = sorted((api for api in apis if api.prefix), key=lambda a: -len(a.path))
        self._errors_below = sorted((api for api in apis if api.errors_below), key=lambda a: -len(a.path))

    def match(self, path: str) -> Api | None:
        api = self._exact.get(path)
        if api is not None:
            return api
        if path.endswith("/") and len(path) > 1:
            api = self._exact.get(path.rstrip("/"))
            if api is not None:
                return api
        for candidate in self._prefixes:
            if path == candidate.path or path.startswith(candidate.path + "/"):
                return candidate
        return None

    def beneath(self, path: str) -> Api | None:
        """For a path :meth:`match` found no API for: the API (``errors_below``) whose path it is below,
        whose error format answers it; else None."""
        for candidate in self._errors_below:
            if path.startswith(candidate.path + "/"):
                return candidate
        return None

    def by_name(self, name: str) -> Api:
        for api in self.apis:
            if api.name == name:
                return api
        raise KeyError(name)
