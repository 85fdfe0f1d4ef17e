"""Development helper: run programs under strategies and print console vs expectation.

    python tests/conformance/run.py [name-substring ...] [-s strategy,...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from programs import build, parse_header, programs  # noqa: E402

from vlab.errors import VlabError  # noqa: E402
from vlab.lab import Lab  # noqa: E402

STRATEGIES = ["native", "trap_emulate", "binary_translation", "vtx"]


def run(path: Path, strategy: str) -> tuple[str, str | None]:
    lab = Lab(image=build(path), strategy=strategy, budget=2_000_000)
    try:
        lab.run()
    except VlabError as e:
        return lab.console, f"{type(e).__name__}: {e}"
    return lab.console, None


def main(argv: list[str]) -> None:
    strategies = STRATEGIES
    names = []
    for a in argv:
        if a.startswith("-s"):
            strategies = a[2:].lstrip("=").split(",")
        else:
            names.append(a)
    for path in programs():
        if names and not any(n in path.stem for n in names):
            continue
        h = parse_header(path)
        for s in strategies:
            t = time.perf_counter()
            out, err = run(path, s)
            dt = time.perf_counter() - t
            ok = out == h.expect and err is None
            mark = "ok " if ok else ("DIV" if s in h.diverges else "BAD")
            print(f"{mark} {path.stem:40} {s:20} {dt:5.2f}s")
            if not ok and (s not in h.diverges or len(names) > 0):
                print("   expect:", h.expect.replace("\n", " | "))
                print("   got:   ", out.replace("\n", " | "), err or "")


if __name__ == "__main__":
    main(sys.argv[1:])
