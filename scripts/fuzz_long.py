"""The long fuzz run: N cases per strategy (default 10,000), half random bytes, half random
instruction sequences, each checked by tests/fuzzing.run_guest. Prints the outcomes per strategy
and every failure; exits 1 if there was one.

    python scripts/fuzz_long.py [--cases 10000] [--seed 2026]
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzzing import LABELS, STRATEGIES, program, run_guest  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    failures = 0
    for strategy in STRATEGIES:
        rnd = random.Random(f"{args.seed}-{strategy}")
        outcomes: collections.Counter[str] = collections.Counter()
        t = time.perf_counter()
        for i in range(args.cases):
            if i % 2:
                code = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 64)))
            else:
                code = program([(rnd.randrange(len(LABELS)), rnd.randrange(64))
                                for _ in range(rnd.randrange(1, 20))])
            try:
                outcomes[run_guest(code, strategy)] += 1
            except AssertionError as e:
                failures += 1
                outcomes["FAILURE"] += 1
                print(f"FAILURE {strategy} {code.hex()}: {e}", flush=True)
        print(f"{strategy:20} {args.cases:,} cases in {time.perf_counter() - t:.0f} s: "
              + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())), flush=True)
    print(f"total failures: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
