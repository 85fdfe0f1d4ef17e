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
import ctypes
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import unicorn  # noqa: E402
from unicorn import x86_const as X  # noqa: E402

from vlab import guests, layout  # noqa: E402
from vlab.compare import MEMORY_CONFIGS  # noqa: E402
from vlab.devices import EXIT_PORT  # noqa: E402
from vlab.lab import Lab  # noqa: E402


def raw_unicorn(code: bytes) -> float:
    """The guest on bare Unicorn: same RAM mapping and boot state, no monitor, no devices but a
    serial line that is always ready and the exit port (which stops the run)."""
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.ctl_exits_enabled(True)  # (no 'until' probe under guest paging, as vlab's machine)
    uc.ctl_set_exits([])
    buf = (ctypes.c_ubyte * layout.DEFAULT_RAM)()
    uc.mem_map_ptr(0, layout.DEFAULT_RAM, unicorn.UC_PROT_ALL, ctypes.addressof(buf))
    uc.mem_map(layout.MONITOR_BASE, layout.MONITOR_SIZE)
    gdt = layout.boot_gdt()
    uc.mem_write(layout.BOOT_GDT, gdt)
    uc.reg_write(X.UC_X86_REG_GDTR, (0, layout.BOOT_GDT, len(gdt) - 1, 0))
    uc.reg_write(X.UC_X86_REG_CR0, 0x11)
    uc.reg_write(X.UC_X86_REG_CS, layout.KERNEL_CS)
    for r in (X.UC_X86_REG_DS, X.UC_X86_REG_ES, X.UC_X86_REG_SS):
        uc.reg_write(r, layout.KERNEL_DS)
    uc.reg_write(X.UC_X86_REG_TR, (layout.TSS_SELECTOR, layout.BOOT_TSS, 0x67, 0x8B00))
    buf[layout.ENTRY:layout.ENTRY + len(code)] = code
    uc.reg_write(X.UC_X86_REG_ESP, layout.BOOT_STACK)
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
    raw = min(raw_unicorn(guests.build(args.guest).code) for _ in range(3))
    print(f"guest {args.guest}: raw Unicorn {raw * 1000:.1f} ms")
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
              f"{raw / wall:>9.2f}  {shown}")


if __name__ == "__main__":
    main()
