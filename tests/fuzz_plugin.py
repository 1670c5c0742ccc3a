"""The pytest side of the fuzz tests (named in their ``pytest_plugins``): how many hypothesis cases ran,
per property and in total, printed at the end of the session (with -v, also how often each property
met each status and error code)."""

from __future__ import annotations

from typing import Any

from tests.fuzz_support import CASES, EXAMPLES, OUTCOMES, end_property


def pytest_runtest_setup(item: Any) -> None:
    end_property()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not CASES:
        return
    terminalreporter.section("fuzz cases (hypothesis)")
    for prop, n in sorted(CASES.items()):
        terminalreporter.write_line(f"{n:8d}  {prop}")
    total = sum(CASES.values())
    terminalreporter.write_line(f"{total:8d}  in total: {len(CASES)} properties, budget {EXAMPLES} each")
    if terminalreporter.config.option.verbose > 0:
        terminalreporter.section("fuzz outcomes: property, status, error code")
        for (prop, status, code), n in sorted(OUTCOMES.items()):
            terminalreporter.write_line(f"{n:8d}  {prop}  {status}  {code}")
