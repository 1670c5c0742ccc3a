"""The floor of the token benchmark: the signature work of one request done by joserfc alone, in a loop.

Run by bench/token_bench.py pinned to the server's core (taskset) while the server is idle:

    python bench/token_floor.py PARTS_JSON SECONDS

PARTS_JSON holds the client's public JWK, pre-made client assertions and DPoP proofs (token endpoint
and userinfo), all signed by bench/token_requests.py. Per operation, for ``SECONDS`` each:

- ``verify_assertion``: ``jwt.decode`` of a PS256 client assertion with the client's (imported) key;
- ``verify_proof``: a DPoP proof's header read, its ``jwk`` imported (the key travels in the proof),
  and ``jwt.decode`` with it (ES256);
- ``sign_id_token``: one PS256 ``jwt.encode`` (what an authorization_code redemption adds: the ID
  token; access tokens are opaque, so client_credentials and userinfo sign nothing).

Prints one JSON line: µs per operation. No jti bookkeeping, no database, no HTTP: only the signatures.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from joserfc import jws, jwt
from joserfc.jwk import JWKRegistry, RSAKey


def _per_call_us(work: Callable[[int], Any], items: int, seconds: float) -> float:
    work(0)  # warm
    calls = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for i in range(items):
            work(i)
        calls += items
    return (time.perf_counter() - started) / calls * 1e6


def measure(parts: dict[str, Any], seconds: float) -> dict[str, float]:
    client_key = RSAKey.import_key(parts["client_public_jwk"])
    signing_key = RSAKey.generate_key(2048, parameters={"kid": "floor"}, private=True)
    assertions: list[str] = parts["assertions"]
    proofs: list[str] = parts["proofs"]

    def verify_assertion(i: int) -> Any:
        return jwt.decode(assertions[i], client_key, algorithms=["PS256"]).claims

    def verify_proof(i: int) -> Any:
        header = jws.extract_compact(proofs[i].encode()).headers()
        return jwt.decode(proofs[i], JWKRegistry.import_key(header["jwk"]), algorithms=["ES256"]).claims

    claims = {"iss": "http://127.0.0.1", "sub": "s" * 43, "aud": "client", "exp": 2_000_000_000}

    def sign_id_token(i: int) -> str:
        return jwt.encode({"alg": "PS256", "kid": "floor"}, claims, signing_key, algorithms=["PS256"])

    return {
        "verify_assertion_us": round(_per_call_us(verify_assertion, len(assertions), seconds), 1),
        "verify_proof_us": round(_per_call_us(verify_proof, len(proofs), seconds), 1),
        "sign_id_token_us": round(_per_call_us(sign_id_token, 50, seconds), 1),
    }


def main() -> int:
    parts = json.loads(Path(sys.argv[1]).read_text())
    print("FLOOR_JSON " + json.dumps(measure(parts, float(sys.argv[2]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
