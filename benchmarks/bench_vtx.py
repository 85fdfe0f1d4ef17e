"""The VT-x model: speed with no exits, and the VM exit round trip.

    python benchmarks/bench_vtx.py [--iterations N] [--exits N] [--short]

The compute loop runs in non-root mode with vlab's default controls: nothing in it can exit, so it
should run at core speed (target, issue 5: >= 0.8 x raw Unicorn on the same image, same run).
EPT is on and lazy by default: the first touch of each guest frame is an EPT violation exit. The
only one this guest causes is the first fetch from its code page, before the loop; so each Lab is
run (untimed) to ``loop_top`` first, then timed over the loop (``loop_top`` to ``loop_end``), as
raw Unicorn is. The exit round trip is measured on a loop of one CPUID per iteration (CPUID
always exits): VM exit, root-mode handler, VM entry, timed the same way.
Exits non-zero if a loop does not reach its end with its counter at 0, if the compute loop
records any exit, or if the CPUID loop records other than exactly one CPUID exit an iteration.
"""

from __future__ import annotations

import argparse

from benchlib import (
    COMPUTE_LOOP_INSTRUCTIONS,
    best_of,
    check,
    compute_image,
    exits_since,
    parse_args,
    ratio,
    raw_compute,
    run_to,
    timed_run_to,
    warm_up,
)
from rawcore import raw_loop
from unicorn import x86_const as X

from vlab import Lab
from vlab.isa import assemble

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
CPUID_EXIT_REASON = 10  # Intel SDM vol. 3, appendix C


def vtx_compute(img) -> tuple[float, dict[str, int]]:
    """The compute loop under VT-x with the default controls: (seconds, exits before the loop)."""
    lab = Lab(image=img, strategy="vtx", budget=None, timer_period=0)
    check(lab.ept_enabled, "vtx: EPT is not on by default any more (this benchmark assumes it)")
    run_to(lab, "loop_top")
    before = lab.trace.counts()
    secs = timed_run_to(lab, "loop_end")
    check(lab.state().ecx == 0, f"vtx: the compute loop ended with ECX = {lab.state().ecx:#x}")
    check(not exits_since(lab, before),
          f"vtx: the compute loop exited, it must not: {exits_since(lab, before)}")
    return secs, before


def vtx_cpuid(img, n: int) -> tuple[float, int]:
    """The CPUID loop under VT-x: (seconds, CPUID exits in the loop)."""
    lab = Lab(image=img, strategy="vtx", budget=None, timer_period=0)
    run_to(lab, "loop_top")
    before = lab.trace.counts()
    secs = timed_run_to(lab, "loop_end")
    check(lab.state().esi == 0, f"vtx: the CPUID loop ended with ESI = {lab.state().esi:#x}")
    exits = exits_since(lab, before)
    check(exits == {"CPUID": n}, f"vtx: {n:,} CPUIDs caused these exits: {exits}")
    check(lab.vmcs["VM_EXIT_REASON"] == CPUID_EXIT_REASON,
          f"vtx: the VMCS's last exit reason is {lab.vmcs['VM_EXIT_REASON']}, not CPUID")
    return secs, exits["CPUID"]


def raw_cpuid(img) -> float:
    secs, uc = raw_loop(img.code, img.symbols["loop_top"], img.symbols["loop_end"])
    check(uc.reg_read(X.UC_X86_REG_ESI) == 0, "raw Unicorn left the CPUID loop with ESI != 0")
    return secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int)
    ap.add_argument("--exits", type=int)
    args = parse_args(ap, short={"iterations": 200_000, "exits": 2_000},
                      full={"iterations": 25_000_000, "exits": 100_000})
    n_insn = COMPUTE_LOOP_INSTRUCTIONS * args.iterations
    img = compute_image(args.iterations, with_timer=False)
    warm_up("vtx")
    raw = best_of(lambda: raw_compute(img), args.repeat)
    vtx, prologue = best_of(lambda: vtx_compute(img), args.repeat)
    before = ", ".join(f"{n} {r}" for r, n in prologue.items()) or "none"
    print(f"compute loop in non-root mode: {n_insn:,} instructions, no exits "
          f"(exits before the loop, untimed: {before})")
    print(f"{'raw Unicorn (same image)':<34}{n_insn / raw / 1e6:>10.1f} M instr/s   {ratio(1.0)}")
    print(f"{'vtx':<34}{n_insn / vtx / 1e6:>10.1f} M instr/s   {ratio(raw / vtx)}   "
          "(goal, issue 20: >= 0.5)")

    loop = assemble(CPUID_LOOP, "cpuid_loop", defines={"ITERATIONS": args.exits})
    raw_loop_secs = best_of(lambda: raw_cpuid(loop), args.repeat)
    secs, exits = best_of(lambda: vtx_cpuid(loop, args.exits), args.repeat)
    per = (secs - raw_loop_secs) / exits
    print(f"VM exit round trip (CPUID): {per * 1e6:.2f} us per exit, {1 / per:,.0f} exits/s "
          f"({exits:,} exits; raw Unicorn runs the same loop in {raw_loop_secs * 1e3:.1f} ms); "
          "goal, issue 20: <= 15 us")


if __name__ == "__main__":
    main()
