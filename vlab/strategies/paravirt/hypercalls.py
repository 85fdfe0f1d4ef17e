"""The hypercalls vlab's hypervisor answers, one handler each (``handler(vcpu, exit)``, as every
handler): arguments in EBX, ECX, EDX, ESI, EDI, the result in EAX. Each validates what the guest
hands it: an unknown number is -ENOSYS, a pointer outside the guest -EFAULT, a descriptor or page
table the guest must not have -EINVAL or -EPERM.
"""

from __future__ import annotations

import struct

from vlab import layout
from vlab.errors import GuestFault
from vlab.hw.devices import PIC_COMMAND, TIMER_VECTOR
from vlab.monitor.handlers import HandlerTable
from vlab.monitor.trace import Exit, ExitReason
from vlab.state import IF, NT, VM
from vlab.strategies.paravirt.abi import (
    EFAULT,
    EINVAL,
    ENOSYS,
    EPERM,
    HYPERCALLS,
    SHARED_INFO,
)


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
    vcpu.note("batched", calls)
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
