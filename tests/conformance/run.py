"""Development helper: run programs under strategies and print console vs expectation.

    python tests/conformance/run.py [name-substring ...] [-s strategy,...]
    python tests/conformance/run.py --stale

``--stale`` runs every case and lists the KNOWN_DIVERGENCES entries that now behave as the
hardware does (to remove: the suite fails on them, strict xfail) and the cases that diverge
without being listed. Runs stop after the suite's wall-clock limit, as in the suite.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))
from tests.conformance import test_conformance as suite  # noqa: E402
from tests.conformance.programs import parse_header  # noqa: E402


def _behaves(name: str, strategy: str, console: str, error: str | None) -> bool:
    """Does the case do what the suite asks (hardware's output, or a listed hole's difference)?"""
    header = parse_header(suite._PATHS[name])  # noqa: SLF001 (a helper of the suite's own)
    same = error is None and console == header.expect
    return not same if strategy in header.diverges else same


def stale() -> None:
    for name in sorted(suite._PATHS):  # noqa: SLF001
        for strategy in suite.STRATEGIES:
            console, error = suite.run(name, strategy)
            ok = _behaves(name, strategy, console, error)
            known = (name, strategy) in suite.KNOWN_DIVERGENCES
            if ok and known:
                print(f"now passes (remove from KNOWN_DIVERGENCES): {name} {strategy}")
            elif not ok and not known:
                print(f"diverges, not listed: {name} {strategy}: {error or console[-120:]!r}")


def main(argv: list[str]) -> None:
    if argv == ["--stale"]:
        stale()
        return
    strategies = suite.STRATEGIES
    names = []
    for a in argv:
        if a.startswith("-s"):
            strategies = a[2:].lstrip("=").split(",")
        else:
            names.append(a)
    for name in sorted(suite._PATHS):  # noqa: SLF001
        if names and not any(n in name for n in names):
            continue
        header = parse_header(suite._PATHS[name])  # noqa: SLF001
        for strategy in strategies:
            t = time.perf_counter()
            console, error = suite.run(name, strategy)
            dt = time.perf_counter() - t
            ok = error is None and console == header.expect
            mark = "ok " if ok else ("DIV" if strategy in header.diverges else "BAD")
            print(f"{mark} {name:40} {strategy:20} {dt:5.2f}s")
            if not ok:
                print("   expect:", header.expect.replace("\n", " | "))
                print("   got:   ", console.replace("\n", " | "), error or "")


if __name__ == "__main__":
    main(sys.argv[1:])
