"""Token benchmark (issue 3, "Benchmark"): the authorization server's token endpoint on one worker,
against the floor of its own signature work, and a DPoP-protected call against a bare endpoint.

Same server set-up as bench/gateway.py (granian, one worker, uvloop, pinned to core 0 with taskset;
wrk pinned to core 1), Kaimen embedded (SQLite; --redis-url for the one-time stores in Redis):

    client_credentials   POST /oauth2/token; each request its own PS256 client assertion and ES256
                         DPoP proof (unique jti each), all signed before the timed run
    floor                the same signature work by joserfc alone in a loop on core 0 (server idle):
                         verify the PS256 assertion + verify the ES256 proof (bench/token_floor.py),
                         before and after the runs; the faster of the two counts
    authorization_code   redemptions of codes made just before the run (bench/token_prepare.py), each
                         with its PKCE verifier and bound to the DPoP key; floor adds the ID token's
                         PS256 signature
    userinfo             GET /oauth2/userinfo with a DPoP-bound token and one proof per request (ath
                         set), against a bare Starlette app answering the same JSON (bench/bare_app.py)

wrk replays the pre-built requests, each once (bench/wrk_replay.lua). Files are sized from the floor
(an upper bound on what the server can do) or from the warm-up, so they never run out; a run whose
requests ran out would show status errors and stop the benchmark. DPoP proofs must be used within
``dpop_iat_window_seconds`` (60 s) of signing and codes within ``code_ttl_seconds`` (60 s): each run
gets its own requests, signed just before it.

    make bench-token [BENCH_ARGS="--quick"]
    .venv/bin/python bench/token_bench.py --help
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

import harness
import loadgen
import prepare
import report
import servers
import token_prepare as tp
import token_report
import token_requests as tr

BENCH = Path(__file__).resolve().parent
REPLAY = BENCH / "wrk_replay.lua"
SERVER_CORE = 0
LOAD_CORE = 1


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short runs for CI: 3 s runs, 1 s warm-up, 1 run")
    p.add_argument("--duration", type=float, default=10, help="seconds per timed run (10)")
    p.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per target (3)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per target (3)")
    p.add_argument("--floor-seconds", type=float, default=3, help="seconds per floor operation (3)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (1: one core)")
    p.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--redis-url", default=None, help="one-time stores (jti) and rate limits in Redis")
    p.add_argument(
        "--dpop-iat-window",
        type=int,
        default=None,
        help="KAIMEN_OAUTH__DPOP_IAT_WINDOW_SECONDS for the server (default: Kaimen's, 60 s)",
    )
    p.add_argument("--py-spy", metavar="PATH", default=None, help="py-spy: sample one extra token run")
    p.add_argument("--keep", action="store_true", help="keep the temporary data dir and server logs")
    args = p.parse_args()
    if args.quick:
        args.duration, args.warmup, args.runs, args.floor_seconds = 3.0, 1.0, 1, 1.0
    return args


class Replayer:
    """Writes a file of pre-built requests and has wrk replay it against one server."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.files = 0
        self.last: tuple[Path, int] | None = None  # the last file written and its request count

    def run(self, name: str, url: str, requests: Iterable[bytes], seconds: float) -> loadgen.WrkRun:
        self.files += 1
        path = self.work / f"requests-{self.files}.bin"
        count = tr.write_records(path, requests)
        self.last = (path, count)
        return self.replay(name, url, path, count, seconds)

    def replay(self, name: str, url: str, path: Path, count: int, seconds: float) -> loadgen.WrkRun:
        run = loadgen.run_wrk(
            url,
            headers={},
            connections=self.args.connections,
            threads=self.args.threads,
            seconds=seconds,
            core=LOAD_CORE,
            script=REPLAY,
            script_args=(str(path), str(self.args.threads)),
        )
        bad = {k: v for k, v in run.errors.items() if v}
        report.say(
            f"[{name}] {run.rps:,.0f} req/s over {run.seconds:g} s ({run.requests:,} of {count:,} prepared "
            f"requests), p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms, cores {run.cpu}"
            + (f", ERRORS {bad}" if bad else "")
        )
        if bad:
            raise SystemExit(f"[{name}] wrk saw errors (refusals, or the requests ran out): {bad}")
        return run


def _floor(parts_file: Path, seconds: float) -> dict[str, float]:
    cmd = ["taskset", "-c", str(SERVER_CORE), sys.executable, str(BENCH / "token_floor.py")]
    proc = subprocess.run(
        [*cmd, str(parts_file), f"{seconds:g}"], capture_output=True, text=True, check=False, timeout=600
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("FLOOR_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"floor failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    floor: dict[str, float] = json.loads(line.removeprefix("FLOOR_JSON "))
    report.say(f"[floor] joserfc alone on core {SERVER_CORE}: {floor} (µs per operation)")
    return floor


def _size(rate: float, seconds: float, headroom: float) -> int:
    return int(rate * seconds * headroom) + 200


def _timed(
    args: argparse.Namespace,
    make: Callable[[int, float], loadgen.WrkRun],
    upper: float,
    settle: Callable[[], object],
    expect: float = 50,
) -> dict[str, Any]:
    """Warm-up sized from ``upper`` (a rate the target cannot beat), then ``args.runs`` runs sized from
    what the warm-up reached, or ``expect`` if more; ``make(count, seconds)`` signs ``count`` requests
    and runs them."""
    warm = make(_size(upper, args.warmup, 1.2), args.warmup)
    settle()
    runs = []
    for _ in range(args.runs):
        runs.append(make(_size(max(warm.rps, expect), args.duration, 1.6), args.duration))
        settle()
    return {
        "rps_median": statistics.median(r.rps for r in runs),
        "runs": [loadgen.as_dict(r) for r in runs],
        "warmup_rps": warm.rps,
    }


def main() -> int:
    args = _args()
    return harness.run(
        ("wrk", "taskset"),
        "bench-token",
        "kaimen-bench-token-",
        args.keep,
        lambda info, work: _bench(args, info, work),
    )


def _bench(args: argparse.Namespace, info: dict[str, Any], work: Path) -> int:
    data = work / "data"
    prepared = prepare.prepare(data, log_level=args.log_level, redis_url=args.redis_url)
    port = servers.free_port()
    base = f"http://{servers.HOST}:{port}"
    host = f"{servers.HOST}:{port}"
    settings = tp.settings_for(data, base)
    keys = tr.Keys.generate(base)
    keys = replace(keys, client_id=tp.create_client(settings, prepared.application_id, keys))
    signer = tr.Signer(keys)
    env = tp.server_env(
        data, base, log_level=args.log_level, redis_url=args.redis_url, iat_window=args.dpop_iat_window
    )
    kaimen = servers.Target("kaimen", "kaimen.asgi:app_from_env", env)
    factory = tr.Factory(keys)
    replayer = Replayer(args, work)
    results: dict[str, Any] = {"machine": info, "args": vars(args), "base_url": base}
    try:
        # The floor's inputs: real assertions and proofs, as the server will get them.
        parts = factory.token_parts(200)
        access_sample = "x" * 43
        parts_file = work / "floor-parts.json"
        parts_file.write_text(
            json.dumps(
                {
                    "client_public_jwk": keys.public_client_jwk(),
                    "assertions": [a for a, _ in parts],
                    "proofs": [p for _, p in parts[:100]]
                    + factory.resource_proofs(100, "GET", tr.USERINFO, access_sample),
                }
            )
        )
        floors = [_floor(parts_file, args.floor_seconds)]
        before = prepare.audit_count(prepared.db_path)
        with servers.serving(kaimen, core=SERVER_CORE, log_dir=work, port=port) as running:
            sanity = tp.sanity_check(running, settings, signer)
            userinfo_body = sanity.pop("userinfo_body")
            report.say(f"sanity: {sanity}")
            results["sanity"] = sanity
            settle = lambda: prepare.settle_audit(prepared)  # noqa: E731
            results["targets"] = _kaimen_runs(
                args, running, host, settings, signer, factory, replayer, floors[0], settle
            )
            userinfo_requests = replayer.last  # the bare app gets the same bytes
            if args.py_spy:
                results["py_spy_file"] = _profiled(args, running, host, factory, replayer, work)
        results["audit_records"] = prepare.audit_count(prepared.db_path) - before
        bare_file, media_file = work / "userinfo.json", work / "userinfo-media-type.txt"
        bare_file.write_bytes(userinfo_body)
        media_file.write_text(sanity["userinfo_media_type"])
        assert userinfo_requests is not None
        results["targets"]["bare"] = _bare_runs(args, bare_file, media_file, replayer, userinfo_requests)
        floors.append(_floor(parts_file, args.floor_seconds))
    finally:
        factory.close()
    # The faster of the two floors, operation by operation: one measured while something else still ran
    # on the core (a checkpoint after seeding, say) would flatter the ratio.
    results["floor"] = {k: min(f[k] for f in floors) for k in floors[0]}
    results["floor_runs"] = floors
    token_report.derive(results)
    report.say()
    report.say(token_report.table(results))
    report.say()
    for line in token_report.notes(results):
        report.say(line)
    report.say(report.machine_line(info))
    report.say(f"results: {report.write_json(results, prefix='token')}")
    return 0


def _kaimen_runs(
    args: argparse.Namespace,
    base: str,
    host: str,
    settings: Any,
    signer: tr.Signer,
    factory: tr.Factory,
    replayer: Replayer,
    floor: dict[str, float],
    settle: Callable[[], object],
) -> dict[str, Any]:
    token_url = base + tr.TOKEN

    def client_credentials(count: int, seconds: float) -> loadgen.WrkRun:
        requests = list(tr.client_credentials_requests(factory.token_parts(count), host))
        return replayer.run("client_credentials", token_url, requests, seconds)

    def authorization_code(count: int, seconds: float) -> loadgen.WrkRun:
        parts = factory.token_parts(count)
        codes = tp.create_codes(settings, signer.keys, count)  # after signing: codes live 60 s
        requests = list(tr.code_requests(parts, codes, tp.REDIRECT_URI, host))
        return replayer.run("authorization_code", token_url, requests, seconds)

    upper_cc = 1e6 / (floor["verify_assertion_us"] + floor["verify_proof_us"])
    targets = {"client_credentials": _timed(args, client_credentials, upper_cc, settle)}
    # A redemption does all a client_credentials request does and more: its rate is a bound.
    cc_rps = targets["client_credentials"]["rps_median"]
    upper_code = min(upper_cc, cc_rps * 1.5)
    targets["authorization_code"] = _timed(args, authorization_code, upper_code, settle, expect=cc_rps)

    token = tp.fresh_access_token(base, settings, signer)  # lives access_token_ttl_seconds (300 s)

    def userinfo(count: int, seconds: float) -> loadgen.WrkRun:
        proofs = factory.resource_proofs(count, "GET", tr.USERINFO, token)
        requests = list(tr.resource_requests(proofs, tr.USERINFO, token, host))
        return replayer.run("userinfo", base + tr.USERINFO, requests, seconds)

    targets["userinfo"] = _timed(args, userinfo, 1e6 / floor["verify_proof_us"], settle)
    return targets


def _bare_runs(
    args: argparse.Namespace, body: Path, media: Path, replayer: Replayer, requests: tuple[Path, int]
) -> dict[str, Any]:
    """The bare app gets the bytes of userinfo's last run, proofs and all (it ignores them); when they
    run out wrk sends the last one again, which the bare app answers all the same."""
    bare = servers.Target(
        "bare",
        "bare_app:create",
        {"BENCH_BODY_FILE": str(body), "BENCH_MEDIA_TYPE_FILE": str(media), "BENCH_PATH": tr.USERINFO},
        pythonpath=str(BENCH),
    )
    path, count = requests
    with servers.serving(bare, core=SERVER_CORE, log_dir=replayer.work) as base:
        url = base + tr.USERINFO
        answer = httpx.get(url)
        if answer.content != body.read_bytes() or answer.headers["content-type"] != media.read_text():
            raise SystemExit("bare app does not answer userinfo's body and media type")
        warm = replayer.replay("bare", url, path, count, args.warmup)
        runs = [replayer.replay("bare", url, path, count, args.duration) for _ in range(args.runs)]
    return {
        "rps_median": statistics.median(r.rps for r in runs),
        "runs": [loadgen.as_dict(r) for r in runs],
        "warmup_rps": warm.rps,
    }


def _profiled(
    args: argparse.Namespace, base: Any, host: str, factory: tr.Factory, replayer: Replayer, work: Path
) -> str:
    """One extra client_credentials run with py-spy attached (not counted); raw collapsed stacks."""
    out = work / "py-spy-token.txt"
    # Sized for more than this endpoint has ever served (2,400 tokens/s seen): out of requests, wrk
    # would fail the run.
    count = _size(5000, args.duration, 1.0)
    requests = list(tr.client_credentials_requests(factory.token_parts(count), host))
    with servers.py_spy(args.py_spy, base.pid, args.duration - 1, out, core=LOAD_CORE):
        replayer.run(
            "client_credentials (py-spy attached, not counted)", base + tr.TOKEN, requests, args.duration
        )
    kept = report.RESULTS / "py-spy-token-last.txt"
    report.RESULTS.mkdir(exist_ok=True)
    shutil.copyfile(out, kept)
    return str(kept)


if __name__ == "__main__":
    sys.exit(main())
