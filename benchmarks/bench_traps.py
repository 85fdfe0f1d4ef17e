"""The trap round trip: fault -> Python handler -> resume, under trap-and-emulate.

    python benchmarks/bench_traps.py [--iterations N]

A guest loop executes one privileged instruction per iteration (CLI; then MOV from CR0, whose
handler also decodes the CR qualification). Raw Unicorn runs the same image at ring 0, where
nothing traps, in the same process: the difference per iteration is the cost of one trap.
Target (issue 3): <= 10 us per trap.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_native import best_of, raw_unicorn  # noqa: E402

from vlab.isa import assemble  # noqa: E402
from vlab.lab import Lab  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=100_000)
    args = ap.parse_args()
    n = args.iterations
    src = (Path(__file__).parent / "guests" / "trap_loop.S").read_text()
    print(f"{'privileged instruction':<24}{'raw us/iter':>12}{'trap us/iter':>14}{'us per trap':>13}"
          f"{'traps/s':>10}")
    for label, defines in (("cli", {}), ("mov eax, cr0", {"CR": 1})):
        img = assemble(src, "trap_loop", defines={"ITERATIONS": n, **defines})
        top, end = img.symbols["loop_top"], img.symbols["loop_end"]
        raw = best_of(lambda c=img.code, t=top, e=end: raw_unicorn(c, t, e))
        runs = []
        for _ in range(3):  # best of three
            lab = Lab(image=img, strategy="trap_emulate", budget=None)
            t = time.perf_counter()
            lab.run(until=img.symbols["loop_end"])
            runs.append((time.perf_counter() - t, lab.trace.total))
        te, traps = min(runs)
        assert traps >= n, traps
        per = (te - raw) / traps
        print(f"{label:<24}{raw / n * 1e6:>12.3f}{te / n * 1e6:>14.2f}{per * 1e6:>13.2f}"
              f"{1 / per:>10,.0f}")


if __name__ == "__main__":
    main()
