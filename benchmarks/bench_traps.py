"""The trap round trip: fault -> Python handler -> resume, under trap-and-emulate.

    python benchmarks/bench_traps.py [--iterations N] [--short]

A guest loop executes one privileged instruction per iteration (CLI; then MOV from CR0, whose
handler also decodes the CR qualification). Raw Unicorn runs the same image at ring 0, where
nothing traps, in the same process: the difference per iteration is the cost of one trap. Both
are timed over the loop alone (``loop_top`` to ``loop_end``, after an untimed run to the loop).
Exits non-zero if the loop does not reach ``loop_end`` with ECX = 0 or if it did not trap exactly
once an iteration, for the expected reason.
Then event delivery: the nanobenchmark guest ``nano-syscall`` (INT 0x80 from ring 3 through a
DPL-3 gate, IRETD back) under the native strategy, where vlab delivers the interrupt through the
guest's IDT itself (Unicorn never does); the cost per round trip is the difference between runs
of N and 2N iterations (raw Unicorn cannot run this guest at all).
Targets (issue 3): <= 10 us per trap; issue 20: a CLI trap round trip <= 5 us, an interrupt
delivered through the guest IDT <= 15 us.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchlib import best_of, check, exits_since, parse_args, run_to, timed_run_to, warm_up
from rawcore import raw_loop
from unicorn import x86_const as X

from vlab import Lab, nanobench
from vlab.isa import assemble

CASES = (("cli", {}, "CLI", "<= 5"), ("mov eax, cr0", {"CR": 1}, "CR_ACCESS", ""))


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


def delivery_run(n: int) -> float:
    """Seconds nano-syscall takes under native with ``n`` system calls, checked."""
    lab = Lab(image=nanobench.build("nano-syscall", n), strategy="native", budget=None,
              timer_period=0)
    t = time.perf_counter()
    lab.run()
    secs = time.perf_counter() - t
    check(lab.exit_code == 0 and lab.read_u32("calls") == n,
          f"nano-syscall: exit code {lab.exit_code}, {lab.read_u32('calls')} calls of {n}")
    return secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int)
    args = parse_args(ap, short={"iterations": 2_000}, full={"iterations": 100_000})
    n = args.iterations
    warm_up("trap_emulate")
    src = (Path(__file__).parent / "guests" / "trap_loop.S").read_text()
    print(f"{'privileged instruction':<24}{'raw us/iter':>12}{'trap us/iter':>14}{'us per trap':>13}"
          f"{'traps/s':>10}{'goal (us)':>11}")
    for label, defines, reason, goal in CASES:
        img = assemble(src, "trap_loop", defines={"ITERATIONS": n, **defines})
        raw = best_of(lambda i=img: raw_run(i), args.repeat)
        te = best_of(lambda i=img, r=reason: trap_run(i, n, r), args.repeat)
        per = (te - raw) / n
        print(f"{label:<24}{raw / n * 1e6:>12.3f}{te / n * 1e6:>14.2f}{per * 1e6:>13.2f}"
              f"{1 / per:>10,.0f}{goal:>11}".rstrip())
    once = best_of(lambda: delivery_run(n), args.repeat)
    twice = best_of(lambda: delivery_run(2 * n), args.repeat)
    per = (twice - once) / n
    print(f"\nevent delivery through the guest IDT (native, nano-syscall: INT 0x80 from ring 3 + "
          f"handler + IRETD)\n  {per * 1e6:.2f} us per round trip ({1 / per:,.0f}/s); goal for the "
          "delivery: <= 15 us; raw Unicorn: cannot (it never delivers through a guest IDT)")


if __name__ == "__main__":
    main()
