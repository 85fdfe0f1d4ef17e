"""The machine: one Unicorn core in 32-bit protected mode with real privilege rings.

It owns guest RAM, the monitor's boot GDT/TSS, the devices, breakpoints, the instruction budget and
virtual time. Interrupts and exceptions are delivered through the *guest's own* IDT in Python
(:mod:`vlab.delivery`), because Unicorn never does. Virtual time is guest instructions retired:
Unicorn's ``emu_start(count=N)`` runs exactly N instructions, and :mod:`vlab.engine` reads how many
ran when a slice stops early. Only when nothing can observe time (no budget, timer masked) does the
core run free at full Unicorn speed.

Strategies (``vlab.strategies``) change how events are handled by replacing
:attr:`Machine.on_interrupt`, :attr:`Machine.on_io` and :attr:`Machine.interrupts_enabled`.
"""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass, field
from typing import Any, Callable

import unicorn
from unicorn import x86_const as X

from vlab import layout
from vlab.errors import (
    BudgetExhausted,
    GuestFault,
    GuestHang,
    InvalidOpcode,
    ProtectionFault,
    UnmappedAccess,
    VlabError,
)
from vlab.hw import core as engine
from vlab.hw import delivery, paging
from vlab.hw.devices import PIC_COMMAND, PIC_DATA, TIMER_PORT, Devices
from vlab.isa import Image, decoder
from vlab.state import IF, CpuState, Eflags, TableRegister

_REGS = [X.UC_X86_REG_EAX, X.UC_X86_REG_EBX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX,
         X.UC_X86_REG_ESI, X.UC_X86_REG_EDI, X.UC_X86_REG_EBP, X.UC_X86_REG_ESP,
         X.UC_X86_REG_EIP, X.UC_X86_REG_EFLAGS, X.UC_X86_REG_CR0, X.UC_X86_REG_CR2,
         X.UC_X86_REG_CR3, X.UC_X86_REG_CR4, X.UC_X86_REG_GDTR, X.UC_X86_REG_IDTR,
         X.UC_X86_REG_CS, X.UC_X86_REG_DS, X.UC_X86_REG_ES, X.UC_X86_REG_FS, X.UC_X86_REG_GS,
         X.UC_X86_REG_SS, X.UC_X86_REG_TR, X.UC_X86_REG_LDTR]
REGISTER_IDS = {
    "eax": X.UC_X86_REG_EAX, "ebx": X.UC_X86_REG_EBX, "ecx": X.UC_X86_REG_ECX,
    "edx": X.UC_X86_REG_EDX, "esi": X.UC_X86_REG_ESI, "edi": X.UC_X86_REG_EDI,
    "ebp": X.UC_X86_REG_EBP, "esp": X.UC_X86_REG_ESP, "eip": X.UC_X86_REG_EIP,
    "eflags": X.UC_X86_REG_EFLAGS, "cr0": X.UC_X86_REG_CR0, "cr2": X.UC_X86_REG_CR2,
    "cr3": X.UC_X86_REG_CR3, "cr4": X.UC_X86_REG_CR4, "cs": X.UC_X86_REG_CS,
    "ds": X.UC_X86_REG_DS, "es": X.UC_X86_REG_ES, "fs": X.UC_X86_REG_FS,
    "gs": X.UC_X86_REG_GS, "ss": X.UC_X86_REG_SS,
}
PE = 0x1
FAULT_STORM = 10_000  # the same fault this often with nothing retired: the guest is stuck
IRQ_POLL = 64  # while an interrupt waits for IF, the PIC is sampled every IRQ_POLL instructions


@dataclass(frozen=True)
class Stop:
    """Why a ``run()`` or ``step()`` returned."""

    reason: str  # "halted" | "breakpoint" | "mode_change" | "exit" | "limit" | "step"
    eip: int
    detail: Any = None

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail is not None else ""
        return f"{self.reason} at {self.eip:#010x}{extra}"


@dataclass
class Snapshot:
    """A whole machine: CPU context, RAM, the monitor area, devices and counters."""

    context: unicorn.UcContext
    ram: bytes
    monitor: bytes
    devices: Devices
    counters: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


class Machine:
    """A protected-mode x86 machine with rings 0/1/3, guest RAM and devices.

    ``timer_period`` is the timer interval in guest instructions; ``budget`` (instructions retired
    in total, None for no limit) ends a runaway guest with :class:`BudgetExhausted`.
    """

    def __init__(self, ram_size: int = layout.DEFAULT_RAM, *, timer_period: int = 10_000,
                 budget: int | None = 50_000_000):
        if ram_size < 2 * 1024 * 1024 or ram_size % 4096 or ram_size > 1 << 30:
            raise ValueError("ram_size must be a multiple of 4 KiB between 2 MiB and 1 GiB "
                             "(the standard entry point is at 1 MiB)")
        self.layout = engine.probe()
        self.ram_size = ram_size
        self.timer_period = timer_period
        self.budget = budget
        self.image: Image | None = None
        self.vmx_mode = "off"
        # What a strategy replaces (the native defaults: no monitor).
        self.on_interrupt: Callable[[int, int | None, bool], None] = self.deliver_interrupt
        self.on_io: Callable[[bool, int, int, int], int] = self.device_io
        self.interrupts_enabled: Callable[[], bool] = self.real_if
        self.on_halt: Callable[[], None] | None = None  # a monitor that wants HLT as an event
        # A monitor's MMU (shadow page tables): translates for the host and tracks its writes.
        self.mmu: Any = None
        # A monitor that leaves guest-physical pages out of the core until first touched (EPT):
        # called from the core with (access "read"/"write"/"fetch", guest-physical address);
        # True once the page is there (the access is then retried).
        self.on_unmapped_ram: Callable[[str, int], bool] | None = None
        self.restore_listeners: list[Callable[[], None]] = []
        # Where a monitor keeps the guest's CR2, if not in the core (a #PF raised by vlab itself)
        self.on_cr2: Callable[[int], None] | None = None
        self.exit_listeners: list[Callable[[Any], None]] = []
        self.stop_listeners: list[Callable[[], None]] = []  # called whenever a run returns
        self._restore_after_slice: list[tuple[int, bytes]] = []
        self.slice_listeners: list[Callable[[], None]] = []  # called after every emu_start
        self.monitor_ss = layout.KERNEL_DS  # a flat ring-0 data segment in the real GDT
        self.breakpoints: set[int] = set()
        self.exit_breakpoints: set[Any] = set()
        self._break_on_mode_change = False
        self._ram_buf = (ctypes.c_ubyte * ram_size)()
        self.ram = memoryview(self._ram_buf).cast("B")
        self._new_core()
        self.reset()

    # ------------------------------------------------------------------ set-up
    def _new_core(self) -> None:
        self.uc = uc = engine.new_core()
        # No "until" address: Unicorn invalidates the code at until-1 after every emu_start, and
        # under guest paging that page walk can fault *silently* (a #PF that leaves stale fault
        # state behind, so the guest's next real #PF arrives as #DF). An empty exit list instead.
        uc.ctl_exits_enabled(True)
        uc.ctl_set_exits([])
        uc.mem_map_ptr(0, self.ram_size, unicorn.UC_PROT_ALL, ctypes.addressof(self._ram_buf))
        uc.mem_map(layout.MONITOR_BASE, layout.MONITOR_SIZE, unicorn.UC_PROT_ALL)
        self._fault = engine.FaultReset(uc, self.layout)
        self._regs = engine.FastRegisters(uc)
        self._counter = engine.InstructionCounter(uc, self.layout)
        uc.hook_add(unicorn.UC_HOOK_INTR, self._hook_interrupt)
        uc.hook_add(unicorn.UC_HOOK_INSN_INVALID, self._hook_invalid)
        uc.hook_add(unicorn.UC_HOOK_MEM_UNMAPPED | unicorn.UC_HOOK_MEM_FETCH_UNMAPPED,
                    self._hook_unmapped)
        uc.hook_add(unicorn.UC_HOOK_CODE, self._hook_monitor_code, None, layout.MONITOR_BASE,
                    layout.MONITOR_BASE + layout.MONITOR_SIZE - 1)
        uc.hook_add(unicorn.UC_HOOK_INSN, self._hook_in, None, 1, 0, X.UC_X86_INS_IN)
        uc.hook_add(unicorn.UC_HOOK_INSN, self._hook_out, None, 1, 0, X.UC_X86_INS_OUT)
        self._bp_hooks: dict[int, int] = {}
        self._mode_hook: int | None = None
        self._monitor_hook = None
        self.protect_monitor()  # the reserved area is never guest memory, under any strategy

    def reset(self) -> None:
        """Power-cycle: clear RAM, rebuild the boot state and reload the image (if any)."""
        ctypes.memset(self._ram_buf, 0, self.ram_size)
        self.devices = Devices()
        self.devices.timer.reprogram(self.timer_period, 0)
        self.instructions = 0
        self.vtime = 0
        self.halted = False
        self.failed: VlabError | None = None
        self.fault_eip: int | None = None
        self._fault_software = False
        self._fault_text: str | None = None
        self._trail: list[list[Any]] = []
        self._last_cpl = 0
        mon = bytearray(layout.MONITOR_SIZE)
        gdt = layout.boot_gdt()
        mon[0:len(gdt)] = gdt
        tss = bytearray(0x68)
        struct.pack_into("<II", tss, 4, layout.BOOT_STACK, layout.KERNEL_DS)  # ESP0, SS0
        tss[0x66:0x68] = struct.pack("<H", 0x68)  # no I/O bitmap
        off = layout.BOOT_TSS - layout.MONITOR_BASE
        mon[off:off + 0x68] = tss
        mon[layout.TRAMPOLINE - layout.MONITOR_BASE] = 0xCF  # iretd
        self.uc.mem_write(layout.MONITOR_BASE, bytes(mon))
        uc = self.uc
        uc.reg_write(X.UC_X86_REG_CR0, 0x10)  # leave protected mode (if a guest left us in it)
        uc.reg_write(X.UC_X86_REG_SS, 0)  # real-mode SS: CPL 0
        uc.reg_write(X.UC_X86_REG_GDTR, (0, layout.BOOT_GDT, len(gdt) - 1, 0))
        uc.reg_write(X.UC_X86_REG_IDTR, (0, 0, 0, 0))
        uc.reg_write(X.UC_X86_REG_CR0, 0x11)  # PE | ET
        for reg in (X.UC_X86_REG_CR2, X.UC_X86_REG_CR3, X.UC_X86_REG_CR4):
            uc.reg_write(reg, 0)
        uc.reg_write(X.UC_X86_REG_CS, layout.KERNEL_CS)
        for reg in (X.UC_X86_REG_DS, X.UC_X86_REG_ES, X.UC_X86_REG_FS, X.UC_X86_REG_GS,
                    X.UC_X86_REG_SS):
            uc.reg_write(reg, layout.KERNEL_DS)
        # TR: the boot TSS, loaded as LTR would (busy 32-bit TSS, present).
        uc.reg_write(X.UC_X86_REG_TR, (layout.TSS_SELECTOR, layout.BOOT_TSS, 0x67, 0x8B00))
        uc.reg_write(X.UC_X86_REG_LDTR, (0, 0, 0, 0x8200))
        for reg in (X.UC_X86_REG_EAX, X.UC_X86_REG_EBX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX,
                    X.UC_X86_REG_ESI, X.UC_X86_REG_EDI, X.UC_X86_REG_EBP):
            uc.reg_write(reg, 0)
        uc.reg_write(X.UC_X86_REG_ESP, layout.BOOT_STACK)
        uc.reg_write(X.UC_X86_REG_EFLAGS, 0x2)
        self._fault.capture()
        self._fault.clear()
        uc.ctl_flush_tb()
        if self.image is not None:
            self._place(self.image)
        else:
            uc.reg_write(X.UC_X86_REG_EIP, layout.ENTRY)

    def load(self, image: Image | bytes, origin: int = layout.ENTRY) -> None:
        """Load a flat image (``Image`` or raw bytes at ``origin``) and reset to its entry."""
        if isinstance(image, (bytes, bytearray, memoryview)):
            image = Image("image", bytes(image), origin)
        if not image.code:
            raise VlabError("the image is empty")
        if image.origin < 0x1000 or image.origin + len(image.code) > self.ram_size:
            raise VlabError(f"the image ({len(image.code)} bytes at {image.origin:#x}) does not "
                            f"fit in guest RAM ({self.ram_size:#x} bytes)")
        self.image = image
        self.reset()

    def _place(self, image: Image) -> None:
        self.ram[image.origin:image.origin + len(image.code)] = image.code
        self.uc.reg_write(X.UC_X86_REG_EIP, image.entry)
        self.uc.ctl_flush_tb()

    # ------------------------------------------------------------------ memory
    def read(self, address: int, size: int) -> bytes:
        """Guest memory at a linear address (through the guest's page tables when paging is on)."""
        return self.read_linear(address, size)

    def paging(self) -> bool:
        """Does the guest translate linear addresses (its CR0.PG, as it believes it)?"""
        if self.mmu is not None:
            return self.mmu.enabled()
        return bool(self._regs.read(X.UC_X86_REG_CR0) & paging.PG)

    def translate(self, linear: int, write: bool = False, accessed: bool = True) -> int:
        """Guest-linear -> guest-physical as the guest's own page tables say (A/D set as the
        CPU would, unless ``accessed`` is False: a look that must not change the guest);
        :class:`~vlab.paging.PageFault` if they refuse the access."""
        if self.mmu is not None:
            return self.mmu.translate(linear, write, accessed)
        r = self._regs.read
        w = paging.walk(self.table_u32, r(X.UC_X86_REG_CR3), linear, write=write,
                        wp=bool(r(X.UC_X86_REG_CR0) & paging.WP),
                        pse=bool(r(X.UC_X86_REG_CR4) & paging.PSE))
        if not w.ok:
            raise paging.PageFault(f"page fault at {linear:#010x} "
                                   f"({paging.error_code_text(w.error_code)})", linear, w.error_code)
        if accessed:
            paging.set_accessed(self.table_u32, self._write_physical_u32, w, write)
        return w.physical

    def flush_tlb(self) -> None:
        """Forget the core's cached translations (a CR3 reload, as a kernel does it); after a
        monitor changed page tables the core walks."""
        if self._regs.read(X.UC_X86_REG_CR0) & paging.PG:
            self.set_reg("cr3", self._regs.read(X.UC_X86_REG_CR3))

    def note_page_fault(self, address: int) -> None:
        """vlab raised a #PF itself (delivering an event): CR2 holds its address."""
        self.set_reg("cr2", address)
        if self.on_cr2 is not None:
            self.on_cr2(address)

    def _pieces(self, address: int, size: int, write: bool, accessed: bool = True):
        """(physical, length) pieces of a linear range, page by page (callers have checked
        that the guest pages and that the range is not the monitor's own area)."""
        while size > 0:
            n = min(size, paging.PAGE - (address & 0xFFF))
            yield self.translate(address, write, accessed), n
            address, size = address + n, size - n

    def read_linear(self, address: int, size: int, accessed: bool = True) -> bytes:
        """Guest memory at a linear address, as the CPU reads it (Accessed bits set)."""
        if address < layout.MONITOR_BASE and self.paging():
            return b"".join(self.read_physical(p, n)
                            for p, n in self._pieces(address, size, False, accessed))
        return self.read_physical(address, size)

    def code_bytes(self, address: int, size: int = 15) -> bytes:
        """Up to ``size`` instruction bytes at ``address`` (fewer if the next page is not
        mapped), looked at without side effects; UnmappedAccess if none can be read."""
        try:
            return self.peek(address, size)
        except VlabError:
            room = 0x1000 - (address & 0xFFF)
            if room >= size:
                raise
            return self.peek(address, room)

    def peek(self, address: int, size: int) -> bytes:
        """Read guest memory only to look at it (disassembly, the lab's views): unlike the
        CPU's own accesses, this sets no Accessed bit in the guest's page tables."""
        return self.read_linear(address, size, accessed=False)

    def read_physical(self, address: int, size: int) -> bytes:
        """Guest-physical memory (or the monitor's own area above ``MONITOR_BASE``)."""
        if 0 <= address and address + size <= self.ram_size:
            return bytes(self.ram[address:address + size])
        if address < layout.MONITOR_BASE:  # (nothing else the guest may name is memory)
            raise UnmappedAccess(f"read of {size} bytes at {address:#010x} outside guest RAM",
                                 address, self.fault_eip, self._fault_text)
        try:
            return bytes(self.uc.mem_read(address, size))
        except unicorn.UcError:
            raise UnmappedAccess(f"read of {size} bytes at {address:#010x} outside guest RAM",
                                 address, self.fault_eip, self._fault_text) from None

    def table_u32(self, address: int) -> int:
        """A page-table entry as a walk reads it: outside guest RAM there is nothing (0, not
        present), as on a bus where no memory answers."""
        if 0 <= address and address + 4 <= self.ram_size:
            return int.from_bytes(self.ram[address:address + 4], "little")
        return 0

    def _write_physical_u32(self, address: int, value: int) -> None:
        self.write_physical(address, struct.pack("<I", value & 0xFFFF_FFFF))

    def write(self, address: int, data: bytes) -> None:
        """Write guest memory from the host (translated code there is discarded)."""
        self.write_linear(address, data)
        self.uc.ctl_remove_cache(address, address + len(data))

    def write_linear(self, address: int, data: bytes) -> None:
        """Write guest memory at a linear address, as the CPU writes it (Dirty bits set)."""
        if address < layout.MONITOR_BASE and self.paging():
            pieces = list(self._pieces(address, len(data), True))  # all checked before any write
            offset = 0
            for p, n in pieces:
                self.write_physical(p, data[offset:offset + n])
                if self.mmu is not None:
                    self.mmu.host_write(p, n)
                offset += n
            return
        self.write_physical(address, data)

    def write_physical(self, address: int, data: bytes) -> None:
        """Write guest-physical memory (or the monitor's own area)."""
        if 0 <= address and address + len(data) <= self.ram_size:
            self.ram[address:address + len(data)] = data
            return
        if address < layout.MONITOR_BASE:  # (the monitor's own area is written as it is)
            raise UnmappedAccess(f"write of {len(data)} bytes at {address:#010x} outside guest "
                                 "RAM", address, self.fault_eip, self._fault_text)
        try:
            self.uc.mem_write(address, bytes(data))
        except unicorn.UcError:
            raise UnmappedAccess(f"write of {len(data)} bytes at {address:#010x} outside guest RAM",
                                 address, self.fault_eip, self._fault_text) from None

    def read_u32(self, address: int) -> int:
        return struct.unpack("<I", self.read_linear(address, 4))[0]

    # ------------------------------------------------------------------ registers
    def reg(self, name: str) -> int:
        return self._regs.read(REGISTER_IDS[name])

    def set_reg(self, name: str, value: int) -> None:
        try:
            self._regs.write(REGISTER_IDS[name], value)
        except unicorn.UcError:
            if name in ("cs", "ds", "es", "fs", "gs", "ss"):
                raise ProtectionFault(f"the CPU refuses to load {name.upper()} with "
                                      f"{value & 0xFFFF:#06x}", value) from None
            raise

    @property
    def eip(self) -> int:
        return self._regs.read(X.UC_X86_REG_EIP)

    def cpl(self) -> int:
        """The current privilege level: the RPL of CS in protected mode."""
        return self._regs.read(X.UC_X86_REG_CS) & 3

    def real_if(self) -> bool:
        return bool(self._regs.read(X.UC_X86_REG_EFLAGS) & IF)

    def idtr(self) -> tuple[int, int]:
        _, base, limit, _ = self.uc.reg_read(X.UC_X86_REG_IDTR)
        return base, limit

    def gdtr(self) -> tuple[int, int]:
        _, base, limit, _ = self.uc.reg_read(X.UC_X86_REG_GDTR)
        return base, limit

    def descriptor(self, selector: int) -> tuple[int, int] | None:
        """The two dwords of a GDT descriptor, or None past the limit / for the null selector."""
        base, limit = self.gdtr()
        index = selector & 0xFFF8
        if index == 0 or selector & 4 or index + 7 > limit:
            return None
        return struct.unpack("<II", self.read_linear(base + index, 8))

    def code_segment_dpl(self, selector: int) -> int | None:
        """DPL of a present code segment, or None if ``selector`` names none."""
        d = self.descriptor(selector)
        if d is None:
            return None
        hi = d[1]
        if not hi & (1 << 15) or not hi & (1 << 12) or not hi & (1 << 11):
            return None
        return (hi >> 13) & 3

    def tss_stack(self, ring: int) -> tuple[int, int]:
        """SS:ESP for ``ring`` from the current TSS (SDM vol. 3, 7.2.1)."""
        _, base, _, _ = self.uc.reg_read(X.UC_X86_REG_TR)
        esp, ss = struct.unpack("<II", self.read_linear(base + 4 + 8 * ring, 8))
        if ss & 0xFFFC == 0:
            raise GuestFault(f"the TSS has no stack for ring {ring} (SS{ring} is null)",
                             self.fault_eip, self.fault_text)
        return ss & 0xFFFF, esp

    def regs_for_delivery(self) -> dict[str, int]:
        r = self._regs.read
        return {"eflags": r(X.UC_X86_REG_EFLAGS), "esp": r(X.UC_X86_REG_ESP),
                "cs": r(X.UC_X86_REG_CS), "ss": r(X.UC_X86_REG_SS), "eip": r(X.UC_X86_REG_EIP)}

    def enter(self, cs: int, eip: int, ss: int, esp: int, eflags: int) -> None:
        """Load CS:EIP, SS:ESP and EFLAGS, changing the CPL to ``cs & 3`` if needed.

        Unicorn refuses to load an inner-ring SS from Python, so going *inward* uses the one way
        that works (DESIGN.md): leave protected mode, load SS = 0 (CPL becomes 0), re-enter it.
        Going *outward* is done as the CPU allows it: an IRETD in the monitor's trampoline.
        """
        target, cpl = cs & 3, self.cpl()
        why = self._check_target(cs, ss, target)
        if why:  # the CPU would raise #GP(selector) and change nothing
            raise ProtectionFault(f"a transfer to {cs:#06x}:{eip:#010x} with stack {ss:#06x} is "
                                  f"not allowed: {why}", cs if "code" in why else ss)
        try:
            self._enter(cs, eip, ss, esp, eflags, target, cpl)
        except unicorn.UcError as e:
            raise ProtectionFault(f"the CPU refused a transfer to {cs:#06x}:{eip:#010x}: {e}",
                                  cs) from None
        self._note_cpl()

    def _check_target(self, cs: int, ss: int, ring: int) -> str | None:
        """Why the CPU would refuse CS/SS for ``ring`` (None: it accepts them)."""
        code = self.descriptor(cs)
        if code is None or not code[1] & (1 << 15) or not code[1] & (1 << 12) \
                or not code[1] & (1 << 11):
            return f"{cs:#06x} is not a present code segment"
        conforming = bool(code[1] & (1 << 10))
        if not conforming and (code[1] >> 13) & 3 != ring:
            return f"code segment {cs:#06x} has DPL {(code[1] >> 13) & 3}, not {ring}"
        data = self.descriptor(ss)
        if data is None or not data[1] & (1 << 15) or not data[1] & (1 << 12) \
                or data[1] & (1 << 11) or not data[1] & (1 << 9):
            return f"{ss:#06x} is not a present writable data segment"
        if (data[1] >> 13) & 3 != ring or ss & 3 != ring:
            return f"stack segment {ss:#06x} is not for ring {ring}"
        return None

    def _enter(self, cs: int, eip: int, ss: int, esp: int, eflags: int, target: int,
               cpl: int) -> None:
        uc = self.uc
        if target < cpl:
            cr0 = uc.reg_read(X.UC_X86_REG_CR0)
            uc.reg_write(X.UC_X86_REG_CR0, cr0 & ~(PE | paging.PG))  # (PG needs PE)
            uc.reg_write(X.UC_X86_REG_SS, 0)
            uc.reg_write(X.UC_X86_REG_CR0, cr0)
            cpl = 0
            if target > 0:  # the trampoline's IRETD needs a 32-bit ring-0 stack segment
                uc.reg_write(X.UC_X86_REG_SS, self.monitor_ss)
        if target == cpl:
            # One register at a time: inside a hook, Unicorn's batch write does not redirect EIP.
            w = self._regs.write
            if ss != self._regs.read(X.UC_X86_REG_SS):  # a reload would set its Accessed bit
                w(X.UC_X86_REG_SS, ss)
            w(X.UC_X86_REG_CS, cs)
            w(X.UC_X86_REG_ESP, esp)
            w(X.UC_X86_REG_EFLAGS, eflags)
            w(X.UC_X86_REG_EIP, eip)
        else:
            self.deprivilege(cs=cs, eip=eip, ss=ss, esp=esp, eflags=eflags)

    def deprivilege(self, cs: int, eip: int, ss: int, esp: int, eflags: int) -> None:
        """Drop to an outer ring with a real IRETD (the monitor's trampoline), as an OS does."""
        frame = struct.pack("<5I", eip, cs, eflags, esp, ss)
        top = layout.MONITOR_STACK - len(frame)
        self.uc.mem_write(top, frame)
        uc = self.uc
        uc.reg_write(X.UC_X86_REG_ESP, top)
        uc.reg_write(X.UC_X86_REG_EIP, layout.TRAMPOLINE)
        self._trampoline_armed = True
        if self._in_slice:
            self._slice_uncounted += 1  # the trampoline's IRETD is the monitor's, not the guest's
            return
        self._run_trampoline(cs & 3)

    def _run_trampoline(self, ring: int) -> None:
        """Execute the trampoline's IRETD now, outside any slice (it is the monitor's, not
        counted as the guest's)."""
        self.uc.emu_start(layout.TRAMPOLINE, layout.UNTIL_NEVER, 0, 1)
        self._fault.capture()
        self._fault.clear()
        if self.cpl() != ring:
            raise VlabError(f"deprivilege to ring {ring} failed (CPL is {self.cpl()})")

    # ------------------------------------------------------------------ for monitors
    def retire(self) -> None:
        """A monitor emulated the trapping instruction: it counts as retired, once."""
        if self._in_slice:
            self._slice_uncounted -= 1

    def halt(self) -> None:
        """Enter the HLT state (a monitor emulated HLT): time skips to the next interrupt."""
        self.halted = True
        if self._in_slice:
            self._request_stop("hlt", None, adjust=0)

    def defer_eip(self, eip: int) -> None:
        """Set EIP once the current instruction hook has returned (inside an IN/OUT hook an EIP
        write would make Unicorn count the next instruction twice)."""
        self._deferred_eip = eip
        if self._in_slice:
            self._request_stop("deferred", None, adjust=0)
        else:
            self.set_reg("eip", eip)

    _deferred_eip: int | None = None

    @property
    def fault_text(self) -> str | None:
        """The instruction at the last fault (decoded only when an error message needs it)."""
        if self._fault_text is not None:
            return self._fault_text
        if self.fault_eip is None or self._fault_software:
            return None
        return self._instruction_text(self.fault_eip)

    @fault_text.setter
    def fault_text(self, text: str | None) -> None:
        self._fault_text = text

    def next_guest_entry(self) -> tuple[int, int]:
        """(CS, EIP) the guest runs at next: past the monitor's trampoline if one is pending."""
        eip = self.eip
        if eip == layout.TRAMPOLINE:
            frame_eip, frame_cs = struct.unpack("<II", self.uc.mem_read(self.reg("esp"), 8))
            return frame_cs & 0xFFFF, frame_eip
        return self.reg("cs"), eip

    def _note_cpl(self) -> None:
        cpl = self.cpl()
        if self._break_on_mode_change and cpl != self._last_cpl and self._in_slice:
            self._request_stop("mode_change", f"CPL {self._last_cpl} -> {cpl}", adjust=0)
        self._last_cpl = cpl

    # ------------------------------------------------------------------ state
    def state(self) -> CpuState:
        """The core's state as an immutable :class:`CpuState`."""
        v = self.uc.reg_read_batch(_REGS)
        gdtr, idtr, tr, ldtr = v[14], v[15], v[22], v[23]
        return CpuState(
            eax=v[0], ebx=v[1], ecx=v[2], edx=v[3], esi=v[4], edi=v[5], ebp=v[6], esp=v[7],
            eip=v[8], eflags=Eflags.decode(v[9]), cpl=v[16] & 3, cr0=v[10], cr2=v[11],
            cr3=v[12], cr4=v[13], gdtr=TableRegister(gdtr[1], gdtr[2]),
            idtr=TableRegister(idtr[1], idtr[2]), cs=v[16], ds=v[17], es=v[18], fs=v[19],
            gs=v[20], ss=v[21], tr=tr[0], ldtr=ldtr[0], vmx_mode=self.vmx_mode,
            instructions=self.instructions, vtime=self.vtime)

    @property
    def console(self) -> str:
        return self.devices.serial.text

    @property
    def exit_code(self) -> int | None:
        return self.devices.exit.code

    def disassemble(self, address: int | None = None, count: int = 1):
        """Decode ``count`` instructions at ``address`` (default EIP)."""
        address = self.eip if address is None else address
        try:
            code = self.peek(address, 15 * count)
        except VlabError:
            return []
        return decoder().decode_many(code, address, count)

    def _instruction_text(self, address: int) -> str | None:
        insns = self.disassemble(address, 1)
        return insns[0].text if insns else None

    # ------------------------------------------------------------------ breakpoints
    def add_breakpoint(self, address: int) -> None:
        """Stop before the instruction at ``address`` executes."""
        if address in self._bp_hooks:
            return
        self.breakpoints.add(address)
        self._bp_hooks[address] = self.uc.hook_add(unicorn.UC_HOOK_CODE, self._hook_breakpoint,
                                                   None, address, address)
        self.uc.ctl_remove_cache(address, address + 1)

    def remove_breakpoint(self, address: int) -> None:
        self.breakpoints.discard(address)
        h = self._bp_hooks.pop(address, None)
        if h is not None:
            self.uc.hook_del(h)
            self.uc.ctl_remove_cache(address, address + 1)

    @property
    def break_on_mode_change(self) -> bool:
        """Stop whenever the CPL changes (Bochs' ``modebp``)."""
        return self._break_on_mode_change

    @break_on_mode_change.setter
    def break_on_mode_change(self, on: bool) -> None:
        self._break_on_mode_change = bool(on)
        if on and self._mode_hook is None:
            # A CPL change always ends a translation block, so a block hook sees each one.
            self._mode_hook = self.uc.hook_add(unicorn.UC_HOOK_BLOCK, self._hook_block)
            self.uc.ctl_flush_tb()
        elif not on and self._mode_hook is not None:
            self.uc.hook_del(self._mode_hook)
            self._mode_hook = None
            self.uc.ctl_flush_tb()
        self._last_cpl = self.cpl()

    def report_exit(self, exit_: Any) -> None:
        """A strategy reports one exit into the monitor (listeners, exit breakpoints)."""
        for listener in self.exit_listeners:
            listener(exit_)
        if self.exit_breakpoints and getattr(exit_, "reason", None) in self.exit_breakpoints:
            if self._in_slice:
                self._request_stop("exit", exit_, adjust=0)
            elif self._pending_stop is None:
                self._pending_stop = ("exit", exit_)

    # ------------------------------------------------------------------ running
    _in_slice = False

    def step(self) -> Stop:
        """Execute one guest instruction (after delivering any interrupt due at this point)."""
        if not self._trail or self._trail[-1][1] >= 16:
            self._trail.append([self.snapshot(), 0])
            del self._trail[:-64]
        self._trail[-1][1] += 1
        try:
            stop = self._run(1, None)
        finally:
            self._stopped()
        return stop if stop.reason != "limit" else Stop("step", self.eip)

    def step_back(self) -> None:
        """Undo the last ``step()``: restore the nearest checkpoint and replay up to it."""
        if not self._trail:
            raise VlabError("nothing to step back to (step_back undoes step(), not run())")
        snap, n = self._trail[-1]
        trail = self._trail
        self.restore(snap)
        for _ in range(n - 1):
            self._run(1, None)
        self._trail = trail
        if n - 1 == 0:
            trail.pop()
        else:
            trail[-1][1] = n - 1

    def run(self, max_instructions: int | None = None, until: int | None = None) -> Stop:
        """Run until the guest halts, a breakpoint, ``until`` (an address) or
        ``max_instructions`` more instructions (then reason "limit")."""
        self._trail = []
        temp = until is not None and until not in self.breakpoints
        if temp:
            self.add_breakpoint(until)
        try:
            return self._run(max_instructions, until)
        finally:
            if temp:
                self.remove_breakpoint(until)
            self._stopped()

    def _stopped(self) -> None:
        for listener in self.stop_listeners:
            try:
                listener()
            except VlabError:
                pass

    def _run(self, max_instructions: int | None, until: int | None) -> Stop:
        if self.failed is not None:
            raise VlabError(f"the machine stopped with {type(self.failed).__name__}: "
                            f"{self.failed}; call reset() to start again")
        if self.exit_code is not None:
            return Stop("halted", self.eip, self.exit_code)
        limit = None if max_instructions is None else self.instructions + max_instructions
        first = True
        while True:
            if limit is not None and self.instructions >= limit:
                return Stop("limit", self.eip)
            if self.budget is not None and self.instructions >= self.budget:
                raise BudgetExhausted(f"instruction budget of {self.budget:,} exhausted "
                                      "(a runaway guest, or raise the budget)", self.eip,
                                      self._instruction_text(self.eip))
            stop = self._service()
            if stop is not None:
                return stop
            n = self._slice_length(limit)
            stop = self._slice(n, skip_bp=self.eip if first else None)
            first = False
            if stop is not None:
                return stop

    def _slice_length(self, limit: int | None) -> int | None:
        bounds = []
        if limit is not None:
            bounds.append(limit - self.instructions)
        if self.budget is not None:
            bounds.append(self.budget - self.instructions)
        timer, pic = self.devices.timer, self.devices.pic
        if timer.period and not pic.mask & 1:
            bounds.append(max(1, timer.next_deadline - self.vtime))
        if pic.irr & ~pic.mask:
            bounds.append(IRQ_POLL)
        return max(1, min(bounds)) if bounds else None

    def _service(self) -> Stop | None:
        """At an instruction boundary: the timer, pending interrupts, and the HLT state."""
        timer, pic = self.devices.timer, self.devices.pic
        if timer.period and self.vtime >= timer.next_deadline:
            self._tick()
        if self.interrupts_enabled():
            vector = pic.pending_vector()
            if vector is None and self.halted and timer.period and not pic.mask & 1 \
                    and not pic.isr:
                self.vtime = max(self.vtime, timer.next_deadline)  # HLT: skip to the next tick
                self._tick()
                vector = pic.pending_vector()
            if vector is not None:
                pic.acknowledge(vector)
                self.halted = False
                self._deliver_outside(vector)
                if self._pending_stop is not None:
                    return self._consume_stop()
        if self.halted:
            self.failed = GuestHang(
                "HLT with no interrupt that can wake it (interrupts disabled, the timer masked, "
                "or the last interrupt not acknowledged with EOI): the guest would wait forever",
                self.eip, None)
            raise self.failed
        return None

    def _tick(self) -> None:
        timer = self.devices.timer
        timer.ticks += 1
        while timer.next_deadline <= self.vtime:
            timer.next_deadline += timer.period
        self.devices.pic.raise_irq(0)

    def _deliver_outside(self, vector: int) -> None:
        self._pending_stop = None
        before = self.cpl()
        try:
            self.on_interrupt(vector, None, False)
        except VlabError as e:
            self.failed = e
            raise
        if self._break_on_mode_change and self.cpl() != before:
            self._pending_stop = ("mode_change", f"CPL {before} -> {self.cpl()}")
        self._last_cpl = self.cpl()

    _pending_stop: tuple[str, Any] | None = None

    def _consume_stop(self) -> Stop:
        reason, detail = self._pending_stop
        self._pending_stop = None
        return Stop(reason, self.eip, detail)

    def _slice(self, n: int | None, skip_bp: int | None) -> Stop | None:
        """One ``emu_start``: exactly ``n`` instructions at most (``None``: run free)."""
        uc = self.uc
        self._in_slice = True
        self._stop_req: tuple[str, Any] | None = None
        self._stop_counted = False
        self._stop_executed = 0
        self._slice_uncounted = 0
        self._last_fault, self._fault_streak = None, 0
        self._counting = bool(n)
        self._skip_bp = skip_bp
        self._error: VlabError | None = None
        self._unmapped: tuple[int, int, bool] | None = None
        self._fetch_miss: int | None = None
        start = self.eip
        uc_error = None
        try:
            uc.emu_start(start, layout.UNTIL_NEVER, 0, n or 0)
        except unicorn.UcError as e:
            uc_error = e
        finally:
            self._in_slice = False
            for address, original in self._restore_after_slice:
                self.uc.mem_write(address, original)
            self._restore_after_slice.clear()
            for listener in self.slice_listeners:
                listener()
        trampoline = self._trampoline_armed and self.eip == layout.TRAMPOLINE
        if trampoline:  # the slice ended before the trampoline's IRETD ran: it was not counted
            self._slice_uncounted -= 1
        raw = self._counter.value if n else 0
        if self._stop_counted:
            executed = self._stop_executed
        elif n and raw > n:
            executed = n
        else:
            executed = raw
        executed = max(0, executed - self._slice_uncounted)
        self.instructions += executed
        self.vtime += executed
        if trampoline and self._error is None and uc_error is None:
            # finish the monitor's transition before anything else looks at the guest (an
            # interrupt delivered now would otherwise interrupt the monitor, not the guest)
            self._run_trampoline(self.next_guest_entry()[0] & 3)
        if self._fetch_miss is not None and self._error is None and uc_error is not None:
            try:  # a fetch from guest RAM the monitor maps on first touch: map, then go on
                self.on_unmapped_ram("fetch", self._fetch_miss)
            except VlabError as e:
                self.failed = e
                raise
            return self._consume_stop() if self._pending_stop is not None else None
        if self._error is None and uc_error is not None:
            self._error = self._translate(uc_error)
        if self._error is not None:
            if not isinstance(self._error, BudgetExhausted):
                self.failed = self._error
            raise self._error
        if self._deferred_eip is not None:
            self.set_reg("eip", self._deferred_eip)
            self._deferred_eip = None
        if self._stop_req is not None:
            reason, detail = self._stop_req
            return Stop(reason, self.eip, detail)
        if not self._stop_counted and (n is None or raw <= n) and self._after_hlt():
            self.halted = True
            if self.on_halt is not None:
                try:
                    self.on_halt()
                except VlabError as e:
                    self.failed = e
                    raise
        return None

    def _after_hlt(self) -> bool:
        """Did the slice end because the guest executed HLT (the byte F4 just before EIP)?"""
        eip = self.eip
        return eip > 0 and self.peek(eip - 1, 1) == b"\xf4"

    def _translate(self, e: unicorn.UcError) -> VlabError:
        eip = self.eip
        text = self._instruction_text(eip)
        if self._unmapped is not None:
            addr, size, fetch = self._unmapped
            what = "fetch from" if fetch else "access to"
            return UnmappedAccess(f"{what} {addr:#010x} ({size} bytes) outside guest RAM "
                                  f"({self.ram_size:#x} bytes)", addr, eip, text)
        if e.errno == unicorn.UC_ERR_INSN_INVALID:
            return InvalidOpcode("invalid opcode", eip, text or self._hexbytes(eip))
        return GuestFault(f"the core stopped: {e}", eip, text)

    def _hexbytes(self, eip: int) -> str:
        try:
            return "bytes " + self.read(eip, 4).hex(" ")
        except VlabError:
            return "unreadable"

    def _request_stop(self, reason: str, detail: Any, adjust: int) -> None:
        """From inside a hook: stop the slice after the current point.

        ``adjust`` corrects Unicorn's counter, which has already counted the instruction being
        hooked: -1 when that instruction has not executed (breakpoints), 0 when it has.
        Internal reasons ("resample", "hlt", "deferred") only end the slice so that the run loop
        re-plans; a visible reason (breakpoint, exit, ...) is returned to the caller.
        """
        if not self._stop_counted:
            self._stop_counted = True
            self._stop_executed = self._counter.value + adjust
        if reason not in ("resample", "hlt", "deferred") and self._stop_req is None:
            self._stop_req = (reason, detail)
        self.uc.emu_stop()

    def _fail(self, error: VlabError) -> None:
        if self._error is None:
            self._error = error
            if not self._stop_counted:
                self._stop_counted = True
                self._stop_executed = self._counter.value
        self.uc.emu_stop()

    # ------------------------------------------------------------------ hooks
    def _hook_breakpoint(self, uc: unicorn.Uc, address: int, size: int, _: object) -> None:
        if address == self._skip_bp:  # resuming from this breakpoint: let it execute once
            self._skip_bp = None
            return
        if address in self.breakpoints:
            self._request_stop("breakpoint", address, adjust=-1)

    def _hook_monitor_code(self, uc: unicorn.Uc, address: int, size: int, _: object) -> None:
        """Only the monitor's own trampoline, entered by the monitor, may run up here."""
        if address == layout.TRAMPOLINE and self._trampoline_armed:
            self._trampoline_armed = False
            return
        self._fail(GuestFault(f"the guest jumped into the machine's reserved memory at "
                              f"{address:#010x} (the monitor's area): refused", address))

    _trampoline_armed = False

    def protect_monitor(self) -> None:
        """The guest may not write the machine's reserved area (boot tables; the monitor's GDT,
        TSS, IDT, trampoline and stack). Only the CPU's own updates of a descriptor's Accessed
        or Busy bit pass; anything else stops the guest, and the bytes are put back."""
        if self._monitor_hook is None:
            self._monitor_hook = self.uc.hook_add(
                unicorn.UC_HOOK_MEM_WRITE, self._hook_monitor_write, None, layout.MONITOR_BASE,
                layout.MONITOR_BASE + layout.MONITOR_SIZE - 1)

    def _hook_monitor_write(self, uc: unicorn.Uc, access: int, address: int, size: int,
                            value: int, _: object) -> None:
        old = bytes(uc.mem_read(address, size))
        if size == 4 and address % 8 == 4:
            before = int.from_bytes(old, "little")
            if (value & 0xFFFF_FFFF) ^ before in (0x100, 0x200) and value & 0xFFFF_FFFF > before:
                return  # the CPU marking a descriptor accessed, or a TSS busy
        self._restore_after_slice.append((address, old))
        self._fail(GuestFault(f"the guest wrote to the monitor's memory at {address:#010x} "
                              "(refused: it is outside the guest's RAM)", self.eip,
                              self._instruction_text(self.eip)))

    def _hook_block(self, uc: unicorn.Uc, address: int, size: int, _: object) -> None:
        cpl = uc.reg_read(X.UC_X86_REG_CS) & 3
        if cpl != self._last_cpl:
            before, self._last_cpl = self._last_cpl, cpl
            self._request_stop("mode_change", f"CPL {before} -> {cpl}", adjust=0)

    def _hook_interrupt(self, uc: unicorn.Uc, intno: int, _: object) -> None:
        error_code, software = self._fault.capture()
        self._fault.clear()
        eip = self._regs.read(X.UC_X86_REG_EIP)
        self._fault_text = None
        if not software and not (intno == 14 and self._fetch_fault(eip)):
            self._slice_uncounted += 1  # the faulting instruction did not retire (a fault on
            # fetching it came before Unicorn counted it at all)
        if not software and self._counting:  # (free running: no counter, so no storm check)
            progress = self._counter.value - self._slice_uncounted
            if (eip, progress) == self._last_fault:
                self._fault_streak += 1
                if self._fault_streak >= FAULT_STORM:
                    self._fail(GuestFault(
                        f"the guest is stuck: {delivery.vector_name(intno)} at the same "
                        f"instruction {FAULT_STORM:,} times in a row with no progress", eip,
                        self._instruction_text(eip)))
                    return
            else:
                self._fault_streak = 0
            self._last_fault = (eip, progress)
        self.fault_eip = eip
        self._fault_software = software
        code = error_code if (not software and intno in delivery.ERROR_CODE_VECTORS) else None
        try:
            self.on_interrupt(intno, code, software)
        except VlabError as e:
            self._fail(e)
        except Exception as e:  # a bug in a handler must not kill the process
            self._fail(GuestFault(f"internal error while handling vector {intno}: {e!r}", eip))

    def _fetch_fault(self, eip: int) -> bool:
        """Was this #PF raised by fetching the instruction at ``eip`` (CR2 inside its bytes)?
        (32-bit paging has no I/D bit in the error code: SDM vol. 3, 4.7.)"""
        cr2 = self._regs.read(X.UC_X86_REG_CR2)
        if not eip <= cr2 < eip + 15:
            return False
        try:
            code = self.code_bytes(eip)
        except VlabError:
            return True  # its bytes cannot even be read: the fetch is what faulted
        insns = decoder().decode_many(code, eip, 1)
        return not insns or cr2 < eip + insns[0].size

    def _hook_invalid(self, uc: unicorn.Uc, _: object) -> bool:
        eip = uc.reg_read(X.UC_X86_REG_EIP)
        self.fault_eip, self.fault_text = eip, self._instruction_text(eip) or self._hexbytes(eip)
        self._slice_uncounted += 1
        try:
            self.on_interrupt(6, None, False)
        except VlabError as e:
            self._fail(e)
        return True

    _ACCESS = {unicorn.UC_MEM_READ_UNMAPPED: "read", unicorn.UC_MEM_WRITE_UNMAPPED: "write",
               unicorn.UC_MEM_FETCH_UNMAPPED: "fetch"}

    def _hook_unmapped(self, uc: unicorn.Uc, access: int, address: int, size: int, value: int,
                       _: object) -> bool:
        if self.on_unmapped_ram is not None and 0 <= address < self.ram_size:
            if access == unicorn.UC_MEM_FETCH_UNMAPPED:
                # (mapped from outside the run: a page that appears in the middle of a
                # translation would escape the core's self-modifying-code tracking)
                self._fetch_miss = address
                return False
            try:  # guest RAM the monitor maps on first touch (EPT): the access is retried
                return self.on_unmapped_ram(self._ACCESS.get(access, "read"), address)
            except VlabError as e:
                self._fail(e)
                return False
            except Exception as e:  # a bug in a handler must not kill the process
                self._fail(GuestFault(f"internal error while mapping {address:#010x}: {e!r}",
                                      self._regs.read(X.UC_X86_REG_EIP)))
                return False
        self._unmapped = (address, size, access == unicorn.UC_MEM_FETCH_UNMAPPED)
        return False

    def _hook_in(self, uc: unicorn.Uc, port: int, size: int, _: object) -> int:
        try:
            return self.on_io(False, port, size, 0) & ((1 << (8 * size)) - 1)
        except VlabError as e:
            self._fail(e)
            return 0

    def _hook_out(self, uc: unicorn.Uc, port: int, size: int, value: int, _: object) -> None:
        try:
            self.on_io(True, port, size, value)
        except VlabError as e:
            self._fail(e)

    # ------------------------------------------------------------------ native event handling
    def deliver_interrupt(self, vector: int, error_code: int | None, software: bool) -> None:
        """Native: deliver through the guest IDT, as the CPU would."""
        delivery.deliver(self, vector, error_code, software)
        self._note_cpl()

    def device_io(self, is_out: bool, port: int, size: int, value: int) -> int:
        """Native: port I/O goes straight to the devices."""
        d = self.devices
        if is_out:
            if d.exit.handles(port):
                d.exit.code = value & 0xFF
                if self._in_slice:
                    self._request_stop("halted", d.exit.code, adjust=0)
            elif d.serial.handles(port):
                d.serial.write(port, value)
            elif port in (PIC_COMMAND, PIC_DATA):
                d.pic.write(port, value)  # a mask or EOI changes what may interrupt: re-plan
                self._resample()
            elif port == TIMER_PORT:
                d.timer.reprogram(value, self.vtime + self._slice_progress())
                self._resample()
            return 0
        if d.serial.handles(port):
            return d.serial.read(port)
        if d.pic.handles(port):
            return d.pic.read(port)
        if d.timer.handles(port):
            return d.timer.read(port)
        return 0xFFFF_FFFF  # nothing there: the bus floats high

    def _slice_progress(self) -> int:
        return max(0, self._counter.value - self._slice_uncounted) if self._in_slice else 0

    @property
    def counting(self) -> bool:
        """Is the current slice counting instructions (so every instruction passes Unicorn's
        hook helper, and a hook added now takes effect at once)?"""
        return self._in_slice and self._counting

    def _resample(self) -> None:
        """Something the interrupt logic depends on changed: end the slice after this instruction."""
        if self._in_slice:
            self._request_stop("resample", None, adjust=0)

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> Snapshot:
        """The whole machine, to :meth:`restore` later."""
        return Snapshot(
            context=self.uc.context_save(), ram=bytes(self.ram),
            monitor=bytes(self.uc.mem_read(layout.MONITOR_BASE, layout.MONITOR_SIZE)),
            devices=self.devices.copy(),
            counters=dict(instructions=self.instructions, vtime=self.vtime, halted=self.halted,
                          vmx_mode=self.vmx_mode, last_cpl=self._last_cpl))

    def restore(self, snap: Snapshot) -> None:
        """Put back a :meth:`snapshot` (registers, RAM, devices, time)."""
        self.uc.context_restore(snap.context)
        self._fault.capture()
        self._fault.clear()
        self.ram[:] = snap.ram
        self.uc.mem_write(layout.MONITOR_BASE, snap.monitor)
        self.devices = snap.devices.copy()
        c = snap.counters
        self.instructions, self.vtime, self.halted = c["instructions"], c["vtime"], c["halted"]
        self.vmx_mode, self._last_cpl = c["vmx_mode"], c["last_cpl"]
        self.failed = None
        self._trail = []
        self.uc.ctl_flush_tb()
        for listener in self.restore_listeners:
            listener()
