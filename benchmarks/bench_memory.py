"""Memory virtualization: the page-table workload (forkwait) under each MMU strategy.

    python benchmarks/bench_memory.py [--guest forkwait]

Runs the same guest (200 address spaces created, entered and destroyed) on raw Unicorn (no
vlab: the guest's own paging, its console polled through minimal IN/OUT hooks) and under
native, binary translation (shadow page tables), VT-x without EPT (shadow page tables,
first-generation costs), VT-x with EPT and paravirtualization (validated page-table hypercalls),
in one run, and prints per strategy: monitor entries (traps, VM exits, hypercalls), callouts,
the MMU's own counters, modelled cycles, wall time and the ratio of raw Unicorn's wall time to
it (1.00 = raw speed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import unicorn  # noqa: E402
from rawcore import raw_core  # noqa: E402
from unicorn import x86_const as X  # noqa: E402

from vlab import guests, layout  # noqa: E402
from vlab.compare import MEMORY_CONFIGS  # noqa: E402
from vlab.devices import EXIT_PORT  # noqa: E402
from vlab.lab import Lab  # noqa: E402


def raw_unicorn(code: bytes) -> float:
    """The guest on bare Unicorn: same RAM mapping and boot state, no monitor, no devices but a
    serial line that is always ready and the exit port (which stops the run)."""
    uc, _ = raw_core(code)
    uc.ctl_exits_enabled(True)  # (no 'until' probe under guest paging, as vlab's machine)
    uc.ctl_set_exits([])
    uc.hook_add(unicorn.UC_HOOK_INSN, lambda uc, port, size, _: 0x20, None, 1, 0,
                X.UC_X86_INS_IN)

    def out(uc, port, size, value, _):
        if port == EXIT_PORT:
            uc.emu_stop()
    uc.hook_add(unicorn.UC_HOOK_INSN, out, None, 1, 0, X.UC_X86_INS_OUT)
    t = time.perf_counter()
    uc.emu_start(layout.ENTRY, layout.UNTIL_NEVER)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--guest", default="forkwait")
    args = ap.parse_args()
    try:
        raw = min(raw_unicorn(guests.build(args.guest).code) for _ in range(3))
        print(f"guest {args.guest}: raw Unicorn {raw * 1000:.1f} ms")
    except unicorn.UcError as e:  # e.g. a guest that needs interrupts delivered through its IDT
        raw = None
        print(f"guest {args.guest}: raw Unicorn cannot run it alone ({e}): no ratios")
    print(f"{'strategy':<34}{'instructions':>13}{'entries':>9}{'callouts':>9}"
          f"{'modelled cycles':>16}{'wall ms':>9}{'raw/vlab':>9}  MMU")
    for label, strategy, options in MEMORY_CONFIGS:
        name = guests.build_for(args.guest, strategy)
        walls = []
        for _ in range(3):
            lab = Lab(name, strategy, strategy_options=options)
            t = time.perf_counter()
            lab.run()
            walls.append(time.perf_counter() - t)
        wall = min(walls)
        mmu = lab.memory_summary()
        keys = ("hidden_faults", "true_faults", "pt_write_traps", "cr3_loads", "shadow_hits",
                "EPT violations", "page-table updates", "new_baseptr")
        shown = ", ".join(f"{k} {mmu[k]}" for k in keys if k in mmu)
        print(f"{label:<34}{lab.machine.instructions:>13,}{lab.trace.entries:>9,}"
              f"{lab.trace.callouts:>9,}{lab.trace.cycles:>16,}{wall * 1000:>9.1f}"
              f"{(f'{raw / wall:.2f}' if raw else '-'):>9}  {shown}")


if __name__ == "__main__":
    main()
