"""Raw Unicorn, set up as vlab's machine boots a guest (the speed limit every benchmark compares
against): guest RAM in a host buffer at 0, the boot GDT and TSS, flat ring-0 segments, the boot
stack, the image at the entry point. No vlab in the run itself."""

from __future__ import annotations

import ctypes
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import unicorn  # noqa: E402
from unicorn import x86_const as X  # noqa: E402

from vlab import layout  # noqa: E402


def raw_core(code: bytes) -> tuple[unicorn.Uc, ctypes.Array]:
    """A bare core with ``code`` loaded at the entry point; returns (core, RAM buffer)."""
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
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
    return uc, buf


def raw_loop(code: bytes, top: int, end: int,
             empty_block_hook: bool = False) -> tuple[float, unicorn.Uc]:
    """Seconds raw Unicorn takes from ``top`` to ``end`` on ``code``, timed as vlab's runs are:
    first run (untimed) to ``top``, then from ``top`` until an exact-address hook at ``end``
    stops it (the hook at ``top`` removed and its translation dropped, as vlab does with a
    breakpoint); ``empty_block_hook``: with vlab's native block hook installed but off. Returns
    (seconds, the core, stopped at ``end``); raises if it stopped elsewhere."""
    uc, _ = raw_core(code)
    if empty_block_hook:  # vlab's native block hook, switched off (it returns at once): what
        from vlab.hw.blocks import BlockCounter  # any per-block counter costs at least
        uc.vlab_counter = BlockCounter(uc, lambda begin, end: None)  # (kept alive with the core)
    hook = uc.hook_add(unicorn.UC_HOOK_CODE, lambda uc, *_: uc.emu_stop(), None, top, top)
    uc.emu_start(layout.ENTRY, layout.UNTIL_NEVER)
    stopped_at = uc.reg_read(X.UC_X86_REG_EIP)
    if stopped_at != top:
        raise RuntimeError(f"raw Unicorn did not reach the loop at {top:#x} (stopped at "
                           f"{stopped_at:#x})")
    uc.hook_del(hook)
    uc.ctl_remove_cache(top, top + 1)
    uc.hook_add(unicorn.UC_HOOK_CODE, lambda uc, *_: uc.emu_stop(), None, end, end)
    t = time.perf_counter()
    uc.emu_start(top, layout.UNTIL_NEVER)
    secs = time.perf_counter() - t
    stopped_at = uc.reg_read(X.UC_X86_REG_EIP)
    if stopped_at != end:
        raise RuntimeError(f"raw Unicorn did not reach the loop's end at {end:#x} (stopped at "
                           f"{stopped_at:#x})")
    return secs, uc
