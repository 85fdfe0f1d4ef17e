"""Paravirtualization: a modified kernel that asks the hypervisor instead of trapping.

The guest is *rebuilt* (``kernel-pv``: the same sources with ``--defsym PV=1``): every privileged
operation becomes a hypercall — ``int 0x82`` with EAX = number and arguments in EBX, ECX, EDX, ESI,
EDI, result in EAX, numbers as Xen's x86-32 ABI (Barham et al., SOSP 2003). Interrupts are masked
with a byte in the shared-info page (no trap at all), the console takes whole strings, HLT is
``sched_op(block)``, the timer is ``set_timer_op``, the IDT a trap table, GDT and CR3 are
validated by the hypervisor, return from interrupt is the ``iret`` hypercall, and ``multicall``
batches several calls into one entry. The kernel runs in ring 1, its task in ring 3.

The hypervisor validates every argument: an unknown number returns -ENOSYS, a pointer outside the
guest's memory -EFAULT, a descriptor it must not accept -EINVAL — never a crash. The catch is that
the image is no longer universal: it runs only on a hypervisor that implements these calls, and
an unmodified kernel cannot run here (it would execute privileged instructions nobody emulates).
"""

from __future__ import annotations

import struct
from collections import Counter

from vlab import layout
from vlab.errors import GuestFault, VlabError
from vlab.hw import paging
from vlab.hw.devices import PIC_COMMAND, TIMER_VECTOR
from vlab.monitor.handlers import HandlerTable
from vlab.monitor.trace import Exit, ExitReason
from vlab.state import IF, NT, RF, TF, VM
from vlab.strategies.trap_emulate import TrapAndEmulate

PV_SIGNATURE = b"VLAB-PV1"  # at entry + 2, after a short jump over it
HYPERCALL_VECTOR = 0x82
SHARED_INFO = 0x1000  # vcpu_info: +0 upcall_pending, +1 upcall_mask (as Xen's vcpu_info)
SHARED_CR2 = SHARED_INFO + 8  # vcpu_info.arch.cr2: where a #PF's address is handed over
# mmuext_op commands (xen/include/public/xen.h)
MMUEXT_PIN_L2_TABLE, MMUEXT_UNPIN_TABLE, MMUEXT_NEW_BASEPTR = 1, 4, 5
MMUEXT_TLB_FLUSH_LOCAL, MMUEXT_INVLPG_LOCAL = 6, 7
_MMUEXT_NAMES = {1: "pin_l2_table", 4: "unpin_table", 5: "new_baseptr", 6: "tlb_flush_local",
                 7: "invlpg_local"}
ENOSYS, EFAULT, EINVAL, EPERM = -38, -14, -22, -1

#: Xen's hypercall numbers (xen/include/public/xen.h) for the calls vlab implements.
HYPERCALLS = {0: "set_trap_table", 1: "mmu_update", 2: "set_gdt", 3: "stack_switch",
              4: "set_callbacks", 13: "multicall", 15: "set_timer_op", 18: "console_io",
              23: "iret", 26: "mmuext_op", 29: "sched_op"}
NUMBERS = {name: n for n, name in HYPERCALLS.items()}
_ARGS = {  # argument names, for the trace
    "set_trap_table": ("table",), "mmu_update": ("reqs", "count", "done", "domid"),
    "set_gdt": ("frames", "entries"), "stack_switch": ("ss", "esp"),
    "set_callbacks": ("event_cs", "event_eip", "failsafe_cs", "failsafe_eip"),
    "multicall": ("calls", "count"), "set_timer_op": ("period", "high"),
    "console_io": ("cmd", "count", "buffer"), "iret": (),
    "mmuext_op": ("ops", "count", "done", "domid"), "sched_op": ("cmd", "arg"),
}


def _pv_build(name: str) -> str:
    from vlab import guests

    pv = guests.build_for(name, "paravirt")
    return pv if pv != name else "kernel-pv"


def is_paravirtual(code: bytes) -> bool:
    """Does a flat image carry the paravirtual kernel's signature at its entry?"""
    return code[:2] == b"\xeb\x08" and code[2:10] == PV_SIGNATURE


class Paravirt(TrapAndEmulate):
    capabilities = frozenset({"virtual_cpu", "hypercalls", "pv_mmu"})
    name = "paravirt"
    title = "paravirtualization (hypercalls)"
    kernel_ring = 1
    monitor = "hypervisor (ring 0)"

    def __init__(self, handlers: HandlerTable | None = None):
        super().__init__(handlers if handlers is not None else hypercall_handlers())
        self.trap_table: dict[int, tuple[int, int, int]] = {}  # vector -> (cs, eip, flags)
        self.kernel_stack: tuple[int, int] | None = None  # (ss, esp) from stack_switch
        self.event_callback: tuple[int, int] | None = None
        self.hypercalls = 0
        self.mmu: PvMmu | None = None

    # ------------------------------------------------------------------ set-up
    def attach(self, machine, trace) -> None:
        super().attach(machine, trace)
        self.vcpu.hv = self
        self.mmu = PvMmu(self)

    def interrupts_enabled(self) -> bool:
        return self.events_enabled()

    def boot(self) -> None:
        m = self.machine
        image = m.image
        if image is None or not is_paravirtual(image.code):
            raise VlabError(
                f"guest {getattr(image, 'name', '?')!r} is not paravirtualized: it would execute "
                "privileged instructions that this hypervisor does not emulate (a paravirtual "
                "hypervisor only answers hypercalls). Run it under trap_emulate, "
                f"binary_translation or vtx, or run its paravirtual build "
                f"'{_pv_build(getattr(image, 'name', 'kernel'))}' here.")
        super().boot()
        m.memory.write(SHARED_INFO, b"\x00\x01")  # no event pending; events masked (like IF = 0)
        m.cpu.set_reg("esi", SHARED_INFO)  # as Xen hands the guest its start info

    def control_registers_changed(self) -> None:
        """(A paravirtual guest has no shadow page tables: its own are the real ones.)"""

    def memory_summary(self) -> dict:
        mmu = self.mmu
        return {"pinned page directories": len(mmu.l2), "page tables": len(mmu.l1),
                **dict(mmu.stats)}

    def _after_restore(self) -> None:
        self.mmu.after_restore()

    def events_enabled(self) -> bool:
        """The guest's interrupt flag is the shared-info mask: a byte it writes, never a trap."""
        if self.machine.cpu.cpl() == 3:
            return True
        return self.machine.memory.read(SHARED_INFO + 1, 1) == b"\x00"

    def reflect_fault(self, fault, exit_) -> None:
        """A hypercall asked for a transfer the CPU refuses: the guest gets -EINVAL; a trap's
        bounce that fails is a #GP through its trap table."""
        if exit_.reason == ExitReason.HYPERCALL:
            self.vcpu.regs.eax = EINVAL & 0xFFFF_FFFF
            exit_.detail["reflected"] = f"-EINVAL: {fault.reason}"
            return
        entry = self.trap_table.get(13)
        if entry is None:
            raise GuestFault(f"{fault.reason}, and the paravirtual kernel has no #GP handler",
                             exit_.eip, exit_.instruction)
        self.bounce(entry[0], entry[1], fault.error_code, mask=bool(entry[2] & 4))

    def to_real(self, sel: int) -> int:
        return sel  # a paravirtual kernel uses the real (ring-1) selectors itself

    def to_virtual(self, sel: int) -> int:
        return sel

    def guest_view(self) -> dict:
        return {"cpl": self.machine.cpu.cpl(), "IF": self.events_enabled(),
                "event_mask": self.machine.memory.read(SHARED_INFO + 1, 1)[0]}

    # ------------------------------------------------------------------ events
    def interrupt(self, vector: int, error_code: int | None, software: bool) -> None:
        m = self.machine
        if software and vector == HYPERCALL_VECTOR and m.cpu.cpl() == 1:
            self.hypercall(m.cpu.eip - 2)
            return
        if vector >= 32 and not software:
            exit_ = Exit(ExitReason.EXTERNAL_INTERRUPT, m.cpu.eip, self.name, self._vcpl(),
                         index=self.trace.total, detail={"vector": vector, "event": "timer"})
            self.dispatch(exit_, cost="inject")
            return
        eip = m.cpu.eip - (2 if software else 0) if software else (m.clock.fault_eip or m.cpu.eip)
        insn = self._decode(eip)
        detail = {"vector": vector}
        if vector == 14 and not software:  # the guest cannot read CR2: hand it over (as Xen)
            cr2 = m.cpu.reg("cr2")
            m.memory.write_physical(SHARED_CR2, struct.pack("<I", cr2))
            detail["cr2"] = cr2
            detail["page_fault"] = "true"
            self.mmu.stats["page_faults"] += 1
        if error_code is not None:
            detail["error_code"] = error_code
        reason = ExitReason.SOFTWARE_INTERRUPT if software else ExitReason.EXCEPTION_NMI
        self.dispatch(self._exit(reason, eip, insn, detail=detail, instruction_bytes=False),
                      cost="trap")

    def _vcpl(self) -> int:
        return self.machine.cpu.cpl()

    def io(self, is_out: bool, port: int, size: int, value: int) -> int:
        m = self.machine
        if m.cpu.cpl() == 3:
            return m.device_io(is_out, port, size, value)
        raise GuestFault("the paravirtual kernel executed IN/OUT: it has no I/O privilege here "
                         "(its console is the console_io hypercall)", m.cpu.eip,
                         m.instruction_text(m.cpu.eip))

    def hypercall(self, eip: int) -> None:
        """``int 0x82`` from the kernel: one exit, dispatched by number."""
        v = self.vcpu
        number = v.regs.eax
        name = HYPERCALLS.get(number, f"unknown({number})")
        args = dict(zip(_ARGS.get(name, ()), (v.regs.ebx, v.regs.ecx, v.regs.edx, v.regs.esi,
                                              v.regs.edi), strict=False))
        self.hypercalls += 1
        insn = self._decode(eip)
        exit_ = self._exit(ExitReason.HYPERCALL, eip, insn, detail={
            "number": number, "hypercall": name, "args": args}, instruction_bytes=False)
        self.dispatch(exit_, cost="hypercall")

    # ------------------------------------------------------------------ the hypervisor's acts
    def builtin_hypercall(self, vcpu, number: int, args: list[int]) -> int:
        """Run the hypervisor's own implementation of hypercall ``number`` with ``args`` (for a
        student's multicall); registers are restored afterwards, the result returned."""
        name = HYPERCALLS.get(number)
        if name is None or name in ("multicall", "iret"):
            return (ENOSYS if name is None else EINVAL) & 0xFFFF_FFFF
        regs = ("ebx", "ecx", "edx", "esi", "edi")
        saved = {r: vcpu.regs[r] for r in ("eax", *regs)}
        try:
            for reg, val in zip(regs, args, strict=False):
                vcpu.regs[reg] = val
            vcpu.regs.eax = number
            hypercall_handlers()[name](vcpu, vcpu.exit)
            return vcpu.regs.eax
        finally:
            for reg, val in saved.items():
                vcpu.regs[reg] = val

    def guest_range_ok(self, address: int, size: int) -> bool:
        """Is [address, address+size) inside the guest's own memory?"""
        return 0 <= address and size >= 0 and address + size <= self.machine.memory.ram_size

    def bounce(self, cs: int, eip: int, error_code: int | None = None, mask: bool = True) -> None:
        """Enter a guest handler as the hardware would enter an interrupt gate: a frame on the
        kernel stack (switching from ring 3 with the stack_switch stack), events masked."""
        m = self.machine
        r = m.cpu.regs_for_delivery()
        shown = r["eflags"] & ~IF
        if self.events_enabled():
            shown |= IF
        frame = [shown, r["cs"], r["eip"]] + ([error_code] if error_code is not None else [])
        if r["cs"] & 3 == 3:
            if self.kernel_stack is None:
                raise GuestFault("a trap from ring 3, but the kernel never told the hypervisor "
                                 "its stack (stack_switch)", m.cpu.eip)
            ss, esp = self.kernel_stack
            frame = [r["ss"], r["esp"]] + frame
        else:
            ss, esp = r["ss"], r["esp"]
        esp -= 4 * len(frame)
        m.memory.write_linear(esp, struct.pack(f"<{len(frame)}I", *reversed(frame)))
        if mask:
            m.memory.write(SHARED_INFO + 1, b"\x01")
        m.cpu.enter(cs=cs, eip=eip, ss=ss, esp=esp, eflags=(r["eflags"] & ~(TF | NT | RF | VM)) | IF)


# ---------------------------------------------------------------------------- hypercall handlers
# Each is a handler like any other: handler(vcpu, exit). Arguments are in EBX, ECX, EDX, ESI, EDI;
# the result goes in EAX. ``vcpu.hv`` is the hypervisor.
def _result(vcpu, value: int) -> None:
    vcpu.regs.eax = value & 0xFFFF_FFFF


def hypercall_console_io(vcpu, exit_: Exit) -> None:
    """console_io(cmd, count, buffer): write ``count`` bytes of ``buffer`` to the console."""
    cmd, count, buf = vcpu.regs.ebx, vcpu.regs.ecx, vcpu.regs.edx
    if cmd != 0:
        return _result(vcpu, EINVAL)
    if count > 4096 or not vcpu.hv.guest_range_ok(buf, count):
        return _result(vcpu, EFAULT)
    serial = vcpu.machine.devices.serial
    for byte in vcpu.mem.read(buf, count):
        serial.write(serial.base, byte)
    _result(vcpu, count)


def hypercall_set_trap_table(vcpu, exit_: Exit) -> None:
    """set_trap_table(table): entries {u8 vector, u8 flags, u16 cs, u32 address}, ended by 0."""
    hv, ptr = vcpu.hv, vcpu.regs.ebx
    table = {}
    for i in range(256):
        if not hv.guest_range_ok(ptr + 8 * i, 8):
            return _result(vcpu, EFAULT)
        vector, flags, cs, address = struct.unpack("<BBHI", vcpu.mem.read(ptr + 8 * i, 8))
        if address == 0:
            break
        if cs & 3 == 0:
            return _result(vcpu, EINVAL)  # nothing may enter the guest at ring 0
        table[vector] = (cs, address, flags)
    hv.trap_table = table
    _result(vcpu, 0)


def hypercall_set_gdt(vcpu, exit_: Exit) -> None:
    """set_gdt(base, entries): validate (no ring-0 code or data, nothing outside the guest) and
    install the guest's GDT, with the hypervisor's own descriptors kept at the top."""
    hv, base, entries = vcpu.hv, vcpu.regs.ebx, vcpu.regs.ecx
    if entries == 0 or entries > layout.MONITOR_TSS_SELECTOR >> 3:
        return _result(vcpu, EINVAL)
    if not hv.guest_range_ok(base, 8 * entries):
        return _result(vcpu, EFAULT)
    raw = vcpu.mem.read(base, 8 * entries)
    table = []
    for i in range(entries):
        d = raw[8 * i:8 * i + 8]
        hi = int.from_bytes(d[4:], "little")
        if hi & (1 << 15) and hi & (1 << 12) and (hi >> 13) & 3 == 0:
            return _result(vcpu, EINVAL)  # a ring-0 segment would give the guest ring 0
        table.append(d if hi & (1 << 12) else bytes(8))  # system descriptors: not accepted
    hv.write_monitor_gdt(table)
    vcpu.virt.GDTR = vcpu.virt.GDTR.__class__(base, 8 * entries - 1)
    _result(vcpu, 0)


def hypercall_stack_switch(vcpu, exit_: Exit) -> None:
    """stack_switch(ss, esp): the kernel stack for traps and events from ring 3."""
    ss, esp = vcpu.regs.ebx & 0xFFFF, vcpu.regs.ecx
    if ss & 3 != 1:
        return _result(vcpu, EINVAL)
    vcpu.hv.kernel_stack = (ss, esp)
    _result(vcpu, 0)


def hypercall_set_callbacks(vcpu, exit_: Exit) -> None:
    """set_callbacks(event_cs, event_eip, failsafe_cs, failsafe_eip): where events arrive."""
    cs, eip = vcpu.regs.ebx & 0xFFFF, vcpu.regs.ecx
    if cs & 3 == 0 or not vcpu.hv.guest_range_ok(eip, 1):
        return _result(vcpu, EINVAL)
    vcpu.hv.event_callback = (cs, eip)
    _result(vcpu, 0)


def hypercall_set_timer_op(vcpu, exit_: Exit) -> None:
    """set_timer_op(period): a timer event every ``period`` guest instructions (vlab counts time
    in instructions; Xen's argument is an absolute time in ns). 0 stops the timer."""
    m = vcpu.machine
    m.devices.timer.reprogram(vcpu.regs.ebx, m.vtime)
    m.devices.pic.write(0x21, 0xFE if vcpu.regs.ebx else 0xFF)
    _result(vcpu, 0)


def hypercall_sched_op(vcpu, exit_: Exit) -> None:
    """sched_op(cmd, arg): yield (0), block until an event (1), shutdown with code arg (2)."""
    cmd, arg = vcpu.regs.ebx, vcpu.regs.ecx
    m = vcpu.machine
    if cmd == 0:
        return _result(vcpu, 0)
    if cmd == 1:
        _result(vcpu, 0)
        vcpu.halt()
        return
    if cmd == 2:
        _result(vcpu, 0)
        m.devices.exit.code = arg & 0xFF
        if m.clock.in_slice:
            m.clock.request_stop("halted", m.devices.exit.code, adjust=0)
        return
    _result(vcpu, EINVAL)


def hypercall_iret(vcpu, exit_: Exit) -> None:
    """iret(): pop EAX, EIP, CS, EFLAGS (and ESP, SS to ring 3) from the guest stack; the
    event mask follows the popped IF (Xen's x86-32 iret hypercall)."""
    m, hv = vcpu.machine, vcpu.hv
    esp = vcpu.regs.esp
    if not hv.guest_range_ok(esp, 16):
        return _result(vcpu, EFAULT)
    eax, eip, cs, eflags = struct.unpack("<IIII", vcpu.mem.read(esp, 16))
    cs &= 0xFFFF
    if cs & 3 == 0:
        return _result(vcpu, EPERM)
    m.memory.write(SHARED_INFO + 1, b"\x00" if eflags & IF else b"\x01")
    vcpu.regs.eax = eax
    flags = (eflags & ~(0x3000 | NT | VM)) | IF
    if cs & 3 == 3:
        new_esp, ss = struct.unpack("<II", vcpu.mem.read(esp + 16, 8))
        m.cpu.enter(cs=cs, eip=eip, ss=ss & 0xFFFF, esp=new_esp, eflags=flags)
    else:
        m.cpu.enter(cs=cs, eip=eip, ss=m.cpu.reg("ss"), esp=esp + 16, eflags=flags)


def hypercall_mmuext_op(vcpu, exit_: Exit) -> None:
    """mmuext_op(ops, count, done, domid): {cmd, arg1, arg2} each. PIN_L2_TABLE (1) validates a
    page directory and everything it maps, UNPIN_TABLE (4) releases one, NEW_BASEPTR (5) loads
    CR3 with a pinned directory, TLB_FLUSH_LOCAL (6) and INVLPG_LOCAL (7) flush the TLB."""
    hv, ptr, count = vcpu.hv, vcpu.regs.ebx, vcpu.regs.ecx
    if count > 64 or not hv.guest_range_ok(ptr, 12 * count):
        return _result(vcpu, EFAULT)
    for i in range(count):
        cmd, arg1, _ = struct.unpack("<III", vcpu.mem.read(ptr + 12 * i, 12))
        error = hv.mmu.ext_op(cmd, arg1)
        if error:
            return _result(vcpu, error)
    _result(vcpu, 0)


def hypercall_mmu_update(vcpu, exit_: Exit) -> None:
    """mmu_update(reqs, count, done, domid): requests {u64 ptr, u64 val} write page-table
    entries. The hypervisor refuses a frame the guest does not own (-EPERM), an entry outside
    its page tables or a writable mapping of one of them (-EINVAL)."""
    hv, ptr, count = vcpu.hv, vcpu.regs.ebx, vcpu.regs.ecx
    if count > 512 or not hv.guest_range_ok(ptr, 16 * count):
        return _result(vcpu, EFAULT)
    for i in range(count):
        where, value = struct.unpack("<QQ", vcpu.mem.read(ptr + 16 * i, 16))
        error = hv.mmu.update(where & 0xFFFF_FFFC, value & 0xFFFF_FFFF)
        if error:
            return _result(vcpu, error)
    _result(vcpu, 0)


class PvMmu:
    """Direct paging, as Xen's for paravirtual guests: the guest's own page tables are the ones
    the core walks (no shadow), but the guest may only change them through the hypervisor, which
    keeps every frame's *type*: a frame in use as a page directory (pinned L2) or page table
    (L1, referenced from a pinned directory) may never be mapped writable, and no entry may map
    a frame the guest does not own. The top 4 MiB of every directory belong to the hypervisor."""

    def __init__(self, hv: Paravirt):
        self.hv = hv
        self.machine = hv.machine
        self.l2: set[int] = set()  # pinned page directories (frame addresses)
        self.l1: Counter[int] = Counter()  # page tables -> references from pinned directories
        self.writable: Counter[int] = Counter()  # frame -> writable mappings in typed tables
        self.base: int | None = None
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------------ frames
    def owned(self, frame: int) -> bool:
        """Is ``frame`` the guest's own memory?"""
        return 0 <= frame and frame + 0x1000 <= self.machine.memory.ram_size

    def _entries(self, frame: int) -> list[int]:
        raw = self.machine.memory.read_physical(frame, 0x1000)
        return list(struct.unpack("<1024I", raw))

    def _write(self, address: int, value: int) -> None:
        self.machine.memory.write_physical(address, struct.pack("<I", value & 0xFFFF_FFFF))

    def _check_l1(self, frame: int) -> int:
        """0 if ``frame`` may become a page table, else the error."""
        if not self.owned(frame):
            return EPERM
        if self.writable[frame] or frame in self.l2:
            return EINVAL  # mapped writable somewhere, or a directory: not a page table
        for e in self._entries(frame):
            if e & paging.P:
                target = e & paging.FRAME
                if not self.owned(target):
                    return EPERM
                if e & paging.RW and (target in self.l1 or target in self.l2 or target == frame):
                    return EINVAL
        return 0

    def _ref_l1(self, frame: int) -> None:
        if self.l1[frame] == 0:
            for e in self._entries(frame):
                if e & paging.P and e & paging.RW:
                    self.writable[e & paging.FRAME] += 1
        self.l1[frame] += 1

    def _unref_l1(self, frame: int) -> None:
        self.l1[frame] -= 1
        if self.l1[frame] <= 0:
            del self.l1[frame]
            for e in self._entries(frame):
                if e & paging.P and e & paging.RW:
                    self.writable[e & paging.FRAME] -= 1

    # ------------------------------------------------------------------ mmuext_op
    def ext_op(self, cmd: int, arg: int) -> int:
        """One mmuext_op command; 0 or the error the guest gets."""
        self.stats[_MMUEXT_NAMES.get(cmd, f"mmuext {cmd}")] += 1
        if cmd == MMUEXT_PIN_L2_TABLE:
            return self.pin(arg << 12)
        if cmd == MMUEXT_UNPIN_TABLE:
            return self.unpin(arg << 12)
        if cmd == MMUEXT_NEW_BASEPTR:
            return self.new_baseptr(arg << 12)
        if cmd in (MMUEXT_TLB_FLUSH_LOCAL, MMUEXT_INVLPG_LOCAL):
            self.machine.memory.flush_tlb()
            return 0
        return EINVAL

    def pin(self, pd: int) -> int:
        """Validate a page directory and all it maps; from now on it is a directory."""
        if not self.owned(pd):
            return EPERM
        if pd in self.l2 or pd in self.l1:
            return EINVAL
        entries = self._entries(pd)
        if entries[paging.MONITOR_PDE] & paging.P:
            return EPERM  # the hypervisor's own slot
        tables = [e & paging.FRAME for e in entries[:paging.MONITOR_PDE] if e & paging.P]
        for t in tables:
            if t not in self.l1:
                error = self._check_l1(t)
                if error:
                    return error
        for t in tables:
            self._ref_l1(t)
        if self.writable[pd]:
            for t in tables:
                self._unref_l1(t)
            return EINVAL  # still mapped writable: the guest could rewrite it behind our back
        self.l2.add(pd)
        self._write(pd + 4 * paging.MONITOR_PDE,
                    self.machine.memory.monitor_page_table() | paging.P | paging.RW | paging.A)
        return 0

    def unpin(self, pd: int) -> int:
        """Release a pinned directory (never the one in use); its tables lose their type."""
        if pd not in self.l2 or pd == self.base:
            return EINVAL
        for e in self._entries(pd)[:paging.MONITOR_PDE]:
            if e & paging.P:
                self._unref_l1(e & paging.FRAME)
        self._write(pd + 4 * paging.MONITOR_PDE, 0)
        self.l2.discard(pd)
        return 0

    def new_baseptr(self, pd: int) -> int:
        """Load CR3 with a pinned directory (paging on from the first one)."""
        if not self.owned(pd):
            return EPERM
        if pd not in self.l2:
            return EINVAL
        m = self.machine
        self.base = pd
        self.hv.vcpu.virt.CR3 = pd
        m.cpu.set_reg("cr3", pd)
        m.cpu.set_reg("cr0", m.cpu.reg("cr0") | paging.PG | paging.WP)
        return 0

    # ------------------------------------------------------------------ mmu_update
    def update(self, where: int, value: int) -> int:
        """Write one entry of a pinned directory or of a page table, after checking it."""
        frame, index = where & paging.FRAME, (where >> 2) & 0x3FF
        target = value & paging.FRAME
        if not self.owned(frame) or (value & paging.P and not self.owned(target)):
            return EPERM  # another's memory: refused
        old = self.machine.memory.table_u32(where)  # (a frame of the guest's: checked above)
        if frame in self.l2:
            if index >= paging.MONITOR_PDE:
                return EPERM
            if value & paging.P and target not in self.l1:
                error = self._check_l1(target)
                if error:
                    return error
            if value & paging.P:
                self._ref_l1(target)
            if old & paging.P:
                self._unref_l1(old & paging.FRAME)
        elif frame in self.l1:
            if value & paging.P and value & paging.RW and (target in self.l1 or target in self.l2):
                return EINVAL  # a writable mapping of a page table
            if old & paging.P and old & paging.RW:
                self.writable[old & paging.FRAME] -= 1
            if value & paging.P and value & paging.RW:
                self.writable[target] += 1
        else:
            return EINVAL  # not a page table the hypervisor knows
        self._write(where, value)
        self.stats["page-table updates"] += 1
        if old & paging.P and (value ^ old) & (paging.P | paging.RW | paging.FRAME):
            self.machine.memory.flush_tlb()  # a mapping went away or lost write access: no stale TLB entry
        return 0

    def after_restore(self) -> None:
        """RAM went back in time: recompute the types from the pinned directories' contents."""
        self.l1.clear()
        self.writable.clear()
        for pd in self.l2:
            for e in self._entries(pd)[:paging.MONITOR_PDE]:
                if e & paging.P:
                    self._ref_l1(e & paging.FRAME)


def hypercall_multicall(vcpu, exit_: Exit) -> None:
    """multicall(calls, count): run a batch of hypercalls in one entry; entries are
    {op, result, args[6]} (32 bytes); each result is written back."""
    hv, ptr, count = vcpu.hv, vcpu.regs.ebx, vcpu.regs.ecx
    if count > 64 or not hv.guest_range_ok(ptr, 32 * count):
        return _result(vcpu, EFAULT)
    saved = {r: vcpu.regs[r] for r in ("eax", "ebx", "ecx", "edx", "esi", "edi")}
    calls = []
    try:
        for i in range(count):
            op, _, *args = struct.unpack("<8I", vcpu.mem.read(ptr + 32 * i, 32))
            name = HYPERCALLS.get(op, f"unknown({op})")
            if name in ("multicall", "iret"):  # not batchable
                result = EINVAL
            else:
                for reg, val in zip(("ebx", "ecx", "edx", "esi", "edi"), args, strict=False):
                    vcpu.regs[reg] = val
                vcpu.regs.eax = op
                handler = hv.handlers.get(name)
                if handler is None:
                    result = ENOSYS
                else:
                    handler(vcpu, exit_)
                    result = vcpu.regs.eax
            vcpu.mem.write_u32(ptr + 32 * i + 4, result)
            calls.append(name)
    finally:
        for reg, val in saved.items():
            vcpu.regs[reg] = val
    exit_.detail["batched"] = calls
    _result(vcpu, 0)


def handle_unknown_hypercall(vcpu, exit_: Exit) -> None:
    """A hypercall number the hypervisor does not know: -ENOSYS, the guest carries on."""
    _result(vcpu, ENOSYS)


def handle_event(vcpu, exit_: Exit) -> None:
    """A timer event: acknowledge it at the (virtual) PIC, mark it pending in the shared-info
    page, and upcall the guest's event callback (events masked, as an interrupt gate would)."""
    m, hv = vcpu.machine, vcpu.hv
    m.devices.pic.write(PIC_COMMAND, 0x20)  # the hypervisor owns the PIC: EOI here
    if hv.event_callback is None:
        return  # nowhere to deliver: the event stays pending in shared info
    m.memory.write(SHARED_INFO, b"\x01")
    hv.bounce(*hv.event_callback)


def handle_trap(vcpu, exit_: Exit) -> None:
    """An exception or INT n: bounce to the guest's handler from its trap table."""
    hv = vcpu.hv
    vector = exit_.detail["vector"]
    entry = hv.trap_table.get(vector)
    software = exit_.reason == ExitReason.SOFTWARE_INTERRUPT
    m = vcpu.machine
    if entry is None or (software and (entry[2] & 3) < m.cpu.cpl()):
        if vector == TIMER_VECTOR:
            return
        raise GuestFault(f"the paravirtual kernel has no trap-table entry for vector {vector:#x} "
                         f"(or its DPL forbids it from CPL {m.cpu.cpl()})", exit_.eip, exit_.instruction)
    cs, eip, flags = entry
    hv.bounce(cs, eip, exit_.detail.get("error_code"), mask=bool(flags & 4))


def hypercall_handlers() -> HandlerTable:
    """The hypervisor's table: hypercalls by name (Xen's), events, traps."""
    table = HandlerTable({
        "console_io": hypercall_console_io, "set_trap_table": hypercall_set_trap_table,
        "set_gdt": hypercall_set_gdt, "stack_switch": hypercall_stack_switch,
        "set_callbacks": hypercall_set_callbacks, "set_timer_op": hypercall_set_timer_op,
        "sched_op": hypercall_sched_op, "iret": hypercall_iret, "mmuext_op": hypercall_mmuext_op,
        "mmu_update": hypercall_mmu_update, "multicall": hypercall_multicall,
        ExitReason.HYPERCALL: handle_unknown_hypercall,
        ExitReason.EXTERNAL_INTERRUPT: handle_event,
        ExitReason.EXCEPTION_NMI: handle_trap, ExitReason.SOFTWARE_INTERRUPT: handle_trap,
    })
    return table
