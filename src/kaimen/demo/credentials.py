"""The sandbox credentials file: what outside tools read to drive the sandbox bank.

Written atomically (temporary file in the same directory, then rename) with mode 0600, because it
holds live API keys.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import orjson


def write_atomically(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".credentials-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def pending_path(data_dir: Path) -> Path:
    """Where ``kaimen demo`` leaves the payload for the worker, which publishes it once bound."""
    return data_dir / ".credentials.pending.json"


def build(
    base_url: str,
    tpps: list[dict[str, Any]],
    customers: list[dict[str, Any]],
    *,
    jws_tan: str | None = None,
) -> dict[str, Any]:
    """The file's payload (DESIGN.md, "Sandbox contract"). ``jws_tan`` is the bank's
    http://openbanking.org.uk/tan (KAIMEN_JWS_TAN); each TPP's ``jws_iss`` comes with ``tpps``."""
    payload: dict[str, Any] = {
        "issuer": base_url,
        "discovery": f"{base_url}/.well-known/openid-configuration",
        "apis": {
            "opendata": f"{base_url}/open-banking",
            "aisp": f"{base_url}/open-banking/v3.1/aisp",
            "pisp": f"{base_url}/open-banking/v3.1/pisp",
            "cbpii": f"{base_url}/open-banking/v3.1/cbpii",
        },
    }
    if jws_tan is not None:
        payload["jws_tan"] = jws_tan
    return {**payload, "tpps": tpps, "customers": customers}
