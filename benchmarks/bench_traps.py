"""The trap round trip: fault -> Python handler -> resume, under trap-and-emulate.

    python benchmarks/bench_traps.py [--iterations N] [--short]

A guest loop executes one privileged instruction per iteration (CLI; then MOV from CR0, whose
handler also decodes the CR qualification). Raw Unicorn runs the same image at ring 0, where
nothing traps, in the same process: the difference per iteration is the cost of one trap. Both
are timed over the loop alone (``loop_top`` to ``loop_end``, after an untimed run to the loop).
Exits non-zero if the loop does not reach ``loop_end`` with ECX = 0 or if it did not trap exactly
once an iteration, for the expected reason.
Target (issue 3): <= 10 us per trap.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchlib import best_of, check, exits_since, parse_args, run_to, timed_run_to, warm_up
from rawcore import raw_loop
from unicorn import x86_const as X

from vlab import Lab
from vlab.isa import assemble

CASES = (("cli", {}, "CLI"), ("mov eax, cr0", {"CR": 1}, "CR_ACCESS"))


def raw_run(img) -> float:
    secs, uc = raw_loop(img.code, img.symbols["loop_top"], img.symbols["loop_end"])
    check(uc.reg_read(X.UC_X86_REG_ECX) == 0, "raw Unicorn left the loop with ECX != 0")
    return secs


def trap_run(img, n: int, reason: str) -> float:
    lab = Lab(image=img, strategy="trap_emulate", budget=None, timer_period=0)
    run_to(lab, "loop_top")
    before = lab.trace.counts()
    secs = timed_run_to(lab, "loop_end")
    check(lab.state().ecx == 0, f"trap_emulate: the loop ended with ECX = {lab.state().ecx:#x}")
    exits = exits_since(lab, before)
    check(exits == {reason: n}, f"trap_emulate: {n:,} iterations trapped as {exits}, "
                                f"expected {{{reason!r}: {n}}}")
    return secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int)
    args = parse_args(ap, short={"iterations": 2_000}, full={"iterations": 100_000})
    n = args.iterations
    warm_up("trap_emulate")
    src = (Path(__file__).parent / "guests" / "trap_loop.S").read_text()
    print(f"{'privileged instruction':<24}{'raw us/iter':>12}{'trap us/iter':>14}{'us per trap':>13}"
          f"{'traps/s':>10}")
    for label, defines, reason in CASES:
        img = assemble(src, "trap_loop", defines={"ITERATIONS": n, **defines})
        raw = best_of(lambda i=img: raw_run(i), args.repeat)
        te = best_of(lambda i=img, r=reason: trap_run(i, n, r), args.repeat)
        per = (te - raw) / n
        print(f"{label:<24}{raw / n * 1e6:>12.3f}{te / n * 1e6:>14.2f}{per * 1e6:>13.2f}"
              f"{1 / per:>10,.0f}")


if __name__ == "__main__":
    main()
