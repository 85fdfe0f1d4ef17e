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

from .. import layout
from ..devices import PIC_COMMAND, TIMER_VECTOR
from ..errors import GuestFault, VlabError
from ..handlers import HandlerTable
from ..state import IF, NT, RF, TF, VM
from ..trace import Exit, ExitReason
from .monitor import SoftwareMonitor

PV_SIGNATURE = b"VLAB-PV1"  # at entry + 2, after a short jump over it
HYPERCALL_VECTOR = 0x82
SHARED_INFO = 0x1000  # vcpu_info: +0 upcall_pending, +1 upcall_mask (as Xen's vcpu_info)
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


def is_paravirtual(code: bytes) -> bool:
    """Does a flat image carry the paravirtual kernel's signature at its entry?"""
    return code[:2] == b"\xeb\x08" and code[2:10] == PV_SIGNATURE


class Paravirt(SoftwareMonitor):
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

    # ------------------------------------------------------------------ set-up
    def attach(self, machine, trace) -> None:
        super().attach(machine, trace)
        self.vcpu.hv = self
        machine.interrupts_enabled = self.events_enabled

    def boot(self) -> None:
        m = self.machine
        image = m.image
        if image is None or not is_paravirtual(image.code):
            raise VlabError(
                f"guest {getattr(image, 'name', '?')!r} is not paravirtualized: it would execute "
                "privileged instructions that this hypervisor does not emulate (a paravirtual "
                "hypervisor only answers hypercalls). Run it under trap_emulate, "
                "binary_translation or vtx, or run its paravirtual build 'kernel-pv' here.")
        super().boot()
        m.write(SHARED_INFO, b"\x00\x01")  # no event pending; events masked (like IF = 0)
        m.set_reg("esi", SHARED_INFO)  # as Xen hands the guest its start info

    def events_enabled(self) -> bool:
        """The guest's interrupt flag is the shared-info mask: a byte it writes, never a trap."""
        if self.machine.cpl() == 3:
            return True
        return self.machine.read(SHARED_INFO + 1, 1) == b"\x00"

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
        return {"cpl": self.machine.cpl(), "IF": self.events_enabled(),
                "event_mask": self.machine.read(SHARED_INFO + 1, 1)[0]}

    # ------------------------------------------------------------------ events
    def on_interrupt(self, vector: int, error_code: int | None, software: bool) -> None:
        m = self.machine
        if software and vector == HYPERCALL_VECTOR and m.cpl() == 1:
            self.hypercall(m.eip - 2)
            return
        if vector >= 32 and not software:
            exit_ = Exit(ExitReason.EXTERNAL_INTERRUPT, m.eip, self.name, self._vcpl(),
                         index=self.trace.total, detail={"vector": vector, "event": "timer"})
            self.dispatch(exit_, cost="inject")
            return
        eip = m.eip - (2 if software else 0) if software else (m.fault_eip or m.eip)
        insn = self._decode(eip)
        detail = {"vector": vector}
        if error_code is not None:
            detail["error_code"] = error_code
        reason = ExitReason.SOFTWARE_INTERRUPT if software else ExitReason.EXCEPTION_NMI
        self.dispatch(self._exit(reason, eip, insn, detail=detail, instruction_bytes=False),
                      cost="trap")

    def _vcpl(self) -> int:
        return self.machine.cpl()

    def on_io(self, is_out: bool, port: int, size: int, value: int) -> int:
        m = self.machine
        if m.cpl() == 3:
            return m.device_io(is_out, port, size, value)
        raise GuestFault("the paravirtual kernel executed IN/OUT: it has no I/O privilege here "
                         "(its console is the console_io hypercall)", m.eip,
                         m._instruction_text(m.eip))

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
        return 0 <= address and size >= 0 and address + size <= self.machine.ram_size

    def bounce(self, cs: int, eip: int, error_code: int | None = None, mask: bool = True) -> None:
        """Enter a guest handler as the hardware would enter an interrupt gate: a frame on the
        kernel stack (switching from ring 3 with the stack_switch stack), events masked."""
        m = self.machine
        r = m.regs_for_delivery()
        shown = r["eflags"] & ~IF
        if self.events_enabled():
            shown |= IF
        frame = [shown, r["cs"], r["eip"]] + ([error_code] if error_code is not None else [])
        if r["cs"] & 3 == 3:
            if self.kernel_stack is None:
                raise GuestFault("a trap from ring 3, but the kernel never told the hypervisor "
                                 "its stack (stack_switch)", m.eip)
            ss, esp = self.kernel_stack
            frame = [r["ss"], r["esp"]] + frame
        else:
            ss, esp = r["ss"], r["esp"]
        esp -= 4 * len(frame)
        m.write_linear(esp, struct.pack(f"<{len(frame)}I", *reversed(frame)))
        if mask:
            m.write(SHARED_INFO + 1, b"\x01")
        m.enter(cs=cs, eip=eip, ss=ss, esp=esp, eflags=(r["eflags"] & ~(TF | NT | RF | VM)) | IF)


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
    hv._write_monitor_gdt(table)
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
        if m._in_slice:
            m._request_stop("halted", m.devices.exit.code, adjust=0)
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
    m.write(SHARED_INFO + 1, b"\x00" if eflags & IF else b"\x01")
    vcpu.regs.eax = eax
    flags = (eflags & ~(0x3000 | NT | VM)) | IF
    if cs & 3 == 3:
        new_esp, ss = struct.unpack("<II", vcpu.mem.read(esp + 16, 8))
        m.enter(cs=cs, eip=eip, ss=ss & 0xFFFF, esp=new_esp, eflags=flags)
    else:
        m.enter(cs=cs, eip=eip, ss=m.reg("ss"), esp=esp + 16, eflags=flags)


def hypercall_mmuext_op(vcpu, exit_: Exit) -> None:
    """mmuext_op(ops, count, done, domid): MMUEXT_NEW_BASEPTR (5) loads CR3 (validated)."""
    hv, ptr, count = vcpu.hv, vcpu.regs.ebx, vcpu.regs.ecx
    if count > 64 or not hv.guest_range_ok(ptr, 12 * count):
        return _result(vcpu, EFAULT)
    for i in range(count):
        cmd, arg1, _ = struct.unpack("<III", vcpu.mem.read(ptr + 12 * i, 12))
        if cmd != 5:
            return _result(vcpu, EINVAL)
        if not hv.guest_range_ok(arg1 << 12, 4096):
            return _result(vcpu, EPERM)  # a page directory outside the guest's memory
        vcpu.virt.CR3 = arg1 << 12
    _result(vcpu, 0)


def hypercall_mmu_update(vcpu, exit_: Exit) -> None:
    """mmu_update(reqs, count, done, domid): requests {u64 ptr, u64 val} write page-table
    entries; both the entry and the frame it maps must belong to the guest."""
    hv, ptr, count = vcpu.hv, vcpu.regs.ebx, vcpu.regs.ecx
    if count > 512 or not hv.guest_range_ok(ptr, 16 * count):
        return _result(vcpu, EFAULT)
    for i in range(count):
        where, value = struct.unpack("<QQ", vcpu.mem.read(ptr + 16 * i, 16))
        where &= ~3
        if not hv.guest_range_ok(where, 4) or (value & 1 and not hv.guest_range_ok(
                value & ~0xFFF, 4096)):
            return _result(vcpu, EPERM)  # another's memory: refused
        vcpu.mem.write_u32(where, value)
    _result(vcpu, 0)


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
                handler = hv.handlers._handlers.get(name)
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
    m.write(SHARED_INFO, b"\x01")
    hv.bounce(*hv.event_callback)


def handle_trap(vcpu, exit_: Exit) -> None:
    """An exception or INT n: bounce to the guest's handler from its trap table."""
    hv = vcpu.hv
    vector = exit_.detail["vector"]
    entry = hv.trap_table.get(vector)
    software = exit_.reason == ExitReason.SOFTWARE_INTERRUPT
    m = vcpu.machine
    if entry is None or (software and (entry[2] & 3) < m.cpl()):
        if vector == TIMER_VECTOR:
            return
        raise GuestFault(f"the paravirtual kernel has no trap-table entry for vector {vector:#x} "
                         f"(or its DPL forbids it from CPL {m.cpl()})", exit_.eip, exit_.instruction)
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
