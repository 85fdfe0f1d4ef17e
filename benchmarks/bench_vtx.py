"""The VT-x model: speed with no exits, and the VM exit round trip.

    python benchmarks/bench_vtx.py [--iterations N]

The compute loop runs in non-root mode with vlab's default controls: nothing in it can exit, so it
should run at core speed (target, issue 5: >= 0.8 x raw Unicorn on the same image, same run).
The exit round trip is measured on a loop of one CPUID per iteration (CPUID always exits):
VM exit, root-mode handler, VM entry.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_native import best_of, compute_image, raw_unicorn  # noqa: E402

from vlab.isa import assemble  # noqa: E402
from vlab.lab import Lab  # noqa: E402

CPUID_LOOP = """
.include "vlab.inc"
.globl _start
_start:
    mov esi, ITERATIONS
loop_top:
    xor eax, eax
    cpuid
    dec esi
    jnz loop_top
loop_end:
    EXIT 0
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=25_000_000)
    ap.add_argument("--exits", type=int, default=100_000)
    args = ap.parse_args()
    n_insn = 4 * args.iterations
    img = compute_image(args.iterations, with_timer=False)
    end = img.symbols["loop_top"] + 8
    raw = best_of(lambda: raw_unicorn(img.code, img.symbols["loop_top"], end))

    def vtx_run() -> float:
        lab = Lab(image=img, strategy="vtx", budget=None)
        t = time.perf_counter()
        lab.run(until=end)
        assert lab.trace.total == 0
        return time.perf_counter() - t

    vtx = best_of(vtx_run)
    print(f"compute loop in non-root mode: {n_insn:,} instructions, no exits")
    print(f"{'raw Unicorn (same image)':<34}{n_insn / raw / 1e6:>10.1f} M instr/s   1.00")
    print(f"{'vtx':<34}{n_insn / vtx / 1e6:>10.1f} M instr/s   {raw / vtx:.2f}")

    loop = assemble(CPUID_LOOP, "cpuid_loop", defines={"ITERATIONS": args.exits})
    raw_loop = best_of(lambda: raw_unicorn(loop.code, loop.symbols["loop_top"],
                                           loop.symbols["loop_end"]))
    runs = []
    for _ in range(3):
        lab = Lab(image=loop, strategy="vtx", budget=None)
        t = time.perf_counter()
        lab.run(until=loop.symbols["loop_end"])
        runs.append((time.perf_counter() - t, lab.trace.total))
    secs, exits = min(runs)
    per = (secs - raw_loop) / exits
    print(f"VM exit round trip (CPUID): {per * 1e6:.2f} us per exit, {1 / per:,.0f} exits/s "
          f"({exits:,} exits; raw Unicorn runs the same loop in {raw_loop * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()
