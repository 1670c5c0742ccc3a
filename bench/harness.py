"""What every benchmark's main does around its measurements: check the tools, print the machine, and
run in a scratch directory that is removed afterwards (unless --keep)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import prepare
import report


def run(
    tools: Sequence[str],
    make_target: str,
    prefix: str,
    keep: bool,
    bench: Callable[[dict[str, Any], Path], int],
) -> int:
    for tool in tools:
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: `make {make_target}` installs it (apt-get)")
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("needs two cores: one for the server, one for the load generator")
    prepare.clean_environ()
    info = report.machine()
    report.say(report.machine_line(info))
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return bench(info, work)
    finally:
        if keep:
            report.say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
