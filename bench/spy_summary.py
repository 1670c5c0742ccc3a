"""Sort py-spy's raw (collapsed) stacks of the gateway worker into the gateway's parts.

Each sample goes to the first part whose frames it contains (the order below matters: an audit flush
runs SQLAlchemy, the rate limiter runs ``limits``). py-spy in ``--nonblocking`` mode sometimes gets a
partial stack, so the library paths are matched as well as the gateway's own frames. Shares are of
the samples that had Python frames (the worker's event loop and its aiosqlite thread); granian's Rust
threads show no Python frames and are left out.

    .venv/bin/python bench/spy_summary.py py-spy-gateway.txt
"""

from __future__ import annotations

import linecache
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("audit flush (writer task: record fields, hash chain, insert and commit)",
     ("AuditWriter._run", "_connection_worker_thread", "sqlalchemy/", "aiosqlite/", "kaimen/audit/")),
    ("access log (logging, JSON formatter, redaction, write)",
     ("kaimen/gateway/accesslog.py", "logging/__init__", "kaimen/logs.py")),
    ("metrics subscriber (prometheus_client)", ("Metrics._on_call", "prometheus_client/")),
    ("rate limit (RateLimit, limits library)", ("RateLimit._count", "Limiter.hit", "limits/")),
    ("identify (CallerDirectory, key digest, watcher poll)", ("CallerDirectory.lookup", "kaimen/tpp/")),
)  # fmt: skip
SEND = "Entry.__call__.<locals>.send_with_id"
SEND_WRAPPERS = ("<locals>.send_with_id", "<locals>.send_secure", "<locals>.tracking_send")
CACHE = ("response cache (hit: lookup, watcher poll)", "ResponseCache.__call__")
OTHER_GATEWAY = "other gateway steps (Entry, send wrappers, RequestLimits, TierPolicy, ErrorBoundary)"
SERVER = "granian send (response write)"
GLUE = "granian / uvloop / asyncio glue, other"


_FRAME = re.compile(r"\((?P<path>[^()]+):(?P<line>\d+)\)$")


def _idle(leaf: str) -> bool:
    """aiosqlite's worker thread blocked in ``tx.get()`` waiting for work: not CPU time."""
    match = _FRAME.search(leaf)
    if match is None or "aiosqlite/" not in match["path"]:
        return False
    return ".get()" in linecache.getline(match["path"], int(match["line"]))


def _part(frames: list[str]) -> str:
    for name, needles in PARTS:
        if any(needle in frame for frame in frames for needle in needles):
            return name
    if frames[-1].startswith(SEND):
        return SERVER
    if any(wrapper in frame for frame in frames for wrapper in SEND_WRAPPERS):
        return OTHER_GATEWAY
    if any(frame.startswith(CACHE[1]) for frame in frames):
        return CACHE[0]
    if any("kaimen/gateway/" in frame for frame in frames):
        return OTHER_GATEWAY
    return GLUE


def summarise(path: Path) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if len(frames) <= 2 or _idle(frames[-1]):  # no Python frame, or an idle wait
            continue
        counts[_part(frames)] += int(n)
    total = sum(counts.values())
    return {
        "python_samples": total,
        "shares_pct": {name: round(100 * n / total, 1) for name, n in counts.most_common()} if total else {},
    }


def render(summary: dict[str, Any]) -> str:
    lines = [f"py-spy, gateway worker, {summary['python_samples']} samples with Python frames:"]
    lines += [f"  {pct:5.1f}%  {name}" for name, pct in summary["shares_pct"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(summarise(Path(sys.argv[1]))))
