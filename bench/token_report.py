"""The token benchmark's report: floors and ratios derived from the runs, one table, the goal line."""

from __future__ import annotations

from typing import Any

import report

GOAL_RATIO = 0.5
# For scale only, not like for like (other servers, other machines, TLS or not).
SCALE = (
    "for scale only (not like for like): Keycloak's sizing guide plans ~120 client-credentials grants/s "
    "per vCPU with a TLS handshake per request; WSO2 IS reports ~1,275/s per vCPU with keep-alive"
)


def derive(results: dict[str, Any]) -> None:
    """Floors in requests' worth of signature work per second, and each target's ratio."""
    f = results["floor"]
    floors = {
        "client_credentials": 1e6 / (f["verify_assertion_us"] + f["verify_proof_us"]),
        "authorization_code": 1e6 / (f["verify_assertion_us"] + f["verify_proof_us"] + f["sign_id_token_us"]),
        "userinfo": 1e6 / f["verify_proof_us"],
    }
    targets = results["targets"]
    for name, floor in floors.items():
        targets[name]["floor_ops"] = round(floor, 1)
        targets[name]["ratio_to_floor"] = round(targets[name]["rps_median"] / floor, 3)
    targets["userinfo"]["ratio_to_bare"] = round(
        targets["userinfo"]["rps_median"] / targets["bare"]["rps_median"], 3
    )


def _cells(name: str, target: dict[str, Any], baseline: str, base_rps: float, ratio: float) -> list[str]:
    runs = target["runs"]
    mid = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    return [
        name,
        f"{target['rps_median']:,.0f}",
        " / ".join(f"{r['rps']:,.0f}" for r in runs),
        f"{mid['p50_ms']:.1f}",
        f"{mid['p99_ms']:.1f}",
        baseline,
        f"{base_rps:,.0f}",
        f"{ratio:.3f}",
        f"{max(r['cpu'].get('cpu1', 0) for r in runs):.0f} / "
        f"{max(r['cpu']['generator_cpu_pct'] for r in runs):.0f}",
    ]


def table(results: dict[str, Any]) -> str:
    t = results["targets"]
    head = ["measurement", "req/s (median)", "runs", "p50 ms", "p99 ms", "baseline", "baseline /s",
            "ratio", "core1 % / wrk %"]  # fmt: skip
    rows = [
        head,
        _cells("client_credentials tokens", t["client_credentials"], "floor: PS256 + ES256 verify",
               t["client_credentials"]["floor_ops"], t["client_credentials"]["ratio_to_floor"]),
        _cells("authorization_code redemptions", t["authorization_code"],
               "floor: + PS256 ID token sign", t["authorization_code"]["floor_ops"],
               t["authorization_code"]["ratio_to_floor"]),
        _cells("userinfo (DPoP-bound)", t["userinfo"], "bare Starlette endpoint",
               t["bare"]["rps_median"], t["userinfo"]["ratio_to_bare"]),
        _cells("  userinfo vs its floor", t["userinfo"], "floor: ES256 verify",
               t["userinfo"]["floor_ops"], t["userinfo"]["ratio_to_floor"]),
        _cells("bare endpoint", t["bare"], "", t["bare"]["rps_median"], 1.0),
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join(report.row(r, widths) for r in rows)


def notes(results: dict[str, Any]) -> list[str]:
    f = results["floor"]
    cc = results["targets"]["client_credentials"]
    ratio = cc["ratio_to_floor"]
    verdict = "MET" if ratio >= GOAL_RATIO else "MISSED"
    return [
        f"floor (joserfc alone, core 0, the faster of {len(results['floor_runs'])} measurements): "
        f"verify PS256 assertion {f['verify_assertion_us']:.0f} µs, verify ES256 proof (jwk import + "
        f"verify) {f['verify_proof_us']:.0f} µs, sign PS256 ID token {f['sign_id_token_us']:.0f} µs",
        f"client_credentials: {cc['rps_median']:,.0f} tokens/s vs floor {cc['floor_ops']:,.0f} ops/s: "
        f"ratio {ratio:.3f}   goal >= {GOAL_RATIO}: {verdict}",
        f"server-side time per token: {1e6 / cc['rps_median']:,.0f} µs, of which signatures "
        f"{1e6 / cc['floor_ops']:,.0f} µs",
        SCALE,
    ]
