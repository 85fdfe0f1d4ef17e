"""Memory virtualization: the page-table workload (forkwait) under each MMU strategy.

    python benchmarks/bench_memory.py [--guest forkwait] [--short]

Runs the same guest (200 address spaces created, entered and destroyed) on raw Unicorn (no
vlab: the guest's own paging, its console polled through minimal IN/OUT hooks) and under
native, binary translation (shadow page tables), VT-x without EPT (shadow page tables,
first-generation costs), VT-x with EPT and paravirtualization (validated page-table hypercalls),
in one run, and prints per strategy: monitor entries (traps, VM exits, hypercalls), callouts,
the MMU's own counters, modelled cycles, wall time and the ratio of raw Unicorn's wall time to
it (1.00 = raw speed). Best of three runs each; one with ``--short`` (the guest is the same).
Exits non-zero if raw Unicorn does not reach the guest's exit port, if a run does not halt with
exit code 0, or if binary translation or VT-x retire another instruction count than native.
"""

from __future__ import annotations

import argparse
import time

import unicorn
from benchlib import best_of, check, parse_args, ratio, timed_guest_run
from rawcore import raw_core
from unicorn import x86_const as X

from vlab import guests, layout
from vlab.compare import MEMORY_CONFIGS
from vlab.hw.devices import EXIT_PORT

#: A guest that runs away on raw Unicorn stops here (one watchdog thread for the whole run).
RAW_TIMEOUT_S = 60
#: Strategies that must retire exactly native's instruction count on an unmodified guest.
SAME_AS_NATIVE = {"binary_translation", "vtx"}


def raw_unicorn(code: bytes) -> float:
    """The guest on bare Unicorn: same RAM mapping and boot state, no monitor, no devices but a
    serial line that is always ready and the exit port (which stops the run)."""
    uc, _ = raw_core(code)
    uc.ctl_exits_enabled(True)  # (no 'until' probe under guest paging, as vlab's machine)
    uc.ctl_set_exits([])
    uc.hook_add(unicorn.UC_HOOK_INSN, lambda uc, port, size, _: 0x20, None, 1, 0,
                X.UC_X86_INS_IN)
    exited = []

    def out(uc, port, size, value, _):
        if port == EXIT_PORT:
            exited.append(value & 0xFF)
            uc.emu_stop()
    uc.hook_add(unicorn.UC_HOOK_INSN, out, None, 1, 0, X.UC_X86_INS_OUT)
    t = time.perf_counter()
    uc.emu_start(layout.ENTRY, layout.UNTIL_NEVER, RAW_TIMEOUT_S * 1_000_000)
    secs = time.perf_counter() - t
    check(exited == [0], f"raw Unicorn: the guest did not reach its exit port with code 0 "
                         f"(exit codes {exited}, stopped at {uc.reg_read(X.UC_X86_REG_EIP):#x})")
    return secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--guest", default="forkwait")
    args = parse_args(ap, {}, {})
    try:
        raw = best_of(lambda: raw_unicorn(guests.build(args.guest).code), args.repeat)
        print(f"guest {args.guest}: raw Unicorn {raw * 1000:.1f} ms")
    except unicorn.UcError as e:  # e.g. a guest that needs interrupts delivered through its IDT
        raw = None
        print(f"guest {args.guest}: raw Unicorn cannot run it alone ({e}): no ratios")
    print(f"{'strategy':<34}{'instructions':>13}{'entries':>9}{'callouts':>9}"
          f"{'modelled cycles':>16}{'wall ms':>9}{'raw/vlab':>9}  MMU")
    native_count = None
    for label, strategy, options in MEMORY_CONFIGS:
        name = guests.build_for(args.guest, strategy)
        wall, lab = best_of(lambda n=name, s=strategy, o=options: timed_guest_run(n, s, o), args.repeat)
        if strategy == "native":
            native_count = lab.instructions
        elif strategy in SAME_AS_NATIVE and native_count is not None:
            check(lab.instructions == native_count,
                  f"{label}: {lab.instructions:,} instructions retired, native {native_count:,}")
        mmu = lab.memory_summary()
        keys = ("hidden_faults", "true_faults", "pt_write_traps", "cr3_loads", "shadow_hits",
                "EPT violations", "page-table updates", "new_baseptr")
        shown = ", ".join(f"{k} {mmu[k]}" for k in keys if k in mmu)
        print(f"{label:<34}{lab.instructions:>13,}{lab.trace.entries:>9,}"
              f"{lab.trace.callouts:>9,}{lab.trace.cycles:>16,}{wall * 1000:>9.1f}"
              f"{(ratio(raw / wall) if raw else '-'):>9}  {shown}")


if __name__ == "__main__":
    main()
