"""The hypercalls vlab's hypervisor answers, one handler each (``handler(vcpu, exit)``, as every
handler): arguments in EBX, ECX, EDX, ESI, EDI, the result in EAX. Each validates what the guest
hands it: an unknown number is -ENOSYS, a pointer outside the guest -EFAULT, a descriptor or page
table the guest must not have -EINVAL or -EPERM.
"""

from __future__ import annotations

import struct

from vlab import layout
from vlab.errors import GuestFault
from vlab.hw import blkring
from vlab.hw.devices import (
    CASCADE_LINE,
    EOI,
    PIC_COMMAND,
    PIC_DATA,
    RING_VECTOR,
    SLAVE_COMMAND,
    SLAVE_DATA,
    SLAVE_VECTOR,
    TIMER_VECTOR,
)
from vlab.monitor.handlers import HandlerTable
from vlab.monitor.trace import Exit, ExitReason
from vlab.state import IF, NT, VM
from vlab.strategies.paravirt.abi import (
    BLKRING_EVTCHN,
    EFAULT,
    EINVAL,
    ENODEV,
    ENOSYS,
    EPERM,
    HYPERCALLS,
    SHARED_EVTCHN_PENDING,
    SHARED_EVTCHN_PENDING_SEL,
    SHARED_INFO,
    BLKRING_capacity,
    BLKRING_reset,
    BLKRING_setup,
    BLKRING_status,
    EVTCHNOP_send,
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
    pic = m.devices.pic  # (IRQ0 only: the hypervisor's other lines stay as they are)
    pic.write(PIC_DATA, pic.mask & ~1 if vcpu.regs.ebx else pic.mask | 1)
    _result(vcpu, 0)


def hypercall_sched_op(vcpu, exit_: Exit) -> None:
    """sched_op(cmd, arg): yield (0), block until an event (1), shutdown with code arg (2).
    Blocking unmasks events first, as Xen's SCHEDOP_block does (xen/include/public/sched.h), so
    a kernel may check for work with events masked and block without losing a wake-up."""
    cmd, arg = vcpu.regs.ebx, vcpu.regs.ecx
    m = vcpu.machine
    if cmd == 0:
        return _result(vcpu, 0)
    if cmd == 1:
        _result(vcpu, 0)
        m.memory.write(SHARED_INFO + 1, b"\x00")
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


def hypercall_event_channel_op(vcpu, exit_: Exit) -> None:
    """event_channel_op(cmd, arg): EVTCHNOP_send (4) with ``arg`` pointing to {u32 port}
    notifies the other end of a channel. vlab's one bound channel is the block ring's: its
    back end runs the ring's available requests (the guest's one notification per batch)."""
    hv, cmd, ptr = vcpu.hv, vcpu.regs.ebx, vcpu.regs.ecx
    if cmd != EVTCHNOP_send:
        return _result(vcpu, ENOSYS)
    if not hv.guest_range_ok(ptr, 4):
        return _result(vcpu, EFAULT)
    port = vcpu.mem.u32(ptr)
    if hv.blkring_port is None or port != hv.blkring_port:
        return _result(vcpu, EINVAL)  # (no such channel, as Xen answers for an unbound port)
    m = vcpu.machine
    ring = m.devices.blkring
    errors = ring.stats["errors"]
    if m.devices.notify_ring():
        m.clock.resample()  # its completion event may be taken right after this hypercall
    m.dma_done()
    if ring.error:
        vcpu.note("device", ring.error)
    elif ring.stats["errors"] != errors:
        vcpu.note("request", ring.last_problem)
    _result(vcpu, 0)


def hypercall_blkring_op(vcpu, exit_: Exit) -> None:
    """blkring_op(cmd, ...), vlab's own (56). BLKRING_setup (0) with desc, avail, used, size:
    the ring's parts in guest memory (virtio 1.1, 2.6) -> the event-channel port its
    completions arrive on; -EINVAL for a size that is not a power of two up to 256 or a
    misaligned part, -EFAULT for a part outside guest memory. BLKRING_capacity (1) -> the disk's
    size in sectors; BLKRING_status (2) -> the device status (2.1: DRIVER_OK 4,
    DEVICE_NEEDS_RESET 64); BLKRING_reset (3) -> 0. -ENODEV if the machine has no disk."""
    hv, m = vcpu.hv, vcpu.machine
    cmd = vcpu.regs.ebx
    ring = m.devices.blkring
    if ring is None:
        return _result(vcpu, ENODEV)
    if cmd == BLKRING_setup:
        r = vcpu.regs
        try:
            ring.configure(r.ecx, r.edx, r.esi, r.edi, m.memory.ram_size)
        except blkring.RingError as e:
            vcpu.note("refused", str(e))
            return _result(vcpu, EFAULT if e.field == "outside" else EINVAL)
        m.devices.acknowledge_ring()
        hv.blkring_port = BLKRING_EVTCHN
        pic = m.devices.pic  # the hypervisor owns the PICs: let the device's line through
        pic.write(SLAVE_DATA, pic.slave.mask & ~(1 << (RING_VECTOR - SLAVE_VECTOR)))
        pic.write(PIC_DATA, pic.mask & ~(1 << CASCADE_LINE))
        return _result(vcpu, BLKRING_EVTCHN)
    if cmd == BLKRING_capacity:
        return _result(vcpu, m.devices.disk.sectors)
    if cmd == BLKRING_status:
        if ring.error:
            vcpu.note("device", ring.error)
        return _result(vcpu, ring.status)
    if cmd == BLKRING_reset:
        ring.reset()
        m.devices.acknowledge_ring()
        return _result(vcpu, 0)
    _result(vcpu, ENOSYS)


def send_event(vcpu, port: int) -> None:
    """Make ``port`` pending as Xen's evtchn_set_pending does: its bit in evtchn_pending, its
    word's bit in the vCPU's evtchn_pending_sel (the upcall then sets upcall_pending)."""
    mem = vcpu.mem
    word = SHARED_EVTCHN_PENDING + 4 * (port // 32)
    mem.write_u32(word, mem.u32(word) | 1 << (port % 32))
    mem.write_u32(SHARED_EVTCHN_PENDING_SEL,
                  mem.u32(SHARED_EVTCHN_PENDING_SEL) | 1 << (port // 32))


def handle_unknown_hypercall(vcpu, exit_: Exit) -> None:
    """A hypercall number the hypervisor does not know: -ENOSYS, the guest carries on."""
    _result(vcpu, ENOSYS)


def handle_event(vcpu, exit_: Exit) -> None:
    """An interrupt for the hypervisor, made an event for the guest: acknowledge it at the PIC
    (the hypervisor owns it), mark it pending in the shared-info page, and upcall the guest's
    event callback (events masked, as an interrupt gate would). The timer's is the tick; the
    block ring's (IRQ 11) is acknowledged at the device and sent on the ring's channel."""
    m, hv = vcpu.machine, vcpu.hv
    vector = exit_.detail.get("vector", TIMER_VECTOR)
    if vector >= SLAVE_VECTOR:
        m.devices.pic.write(SLAVE_COMMAND, EOI)
    m.devices.pic.write(PIC_COMMAND, EOI)
    if vector == RING_VECTOR and m.devices.blkring is not None:
        causes = m.devices.acknowledge_ring()
        if causes & blkring.ISR_CONFIG:
            vcpu.note("device", m.devices.blkring.error)
        if hv.blkring_port is not None:
            send_event(vcpu, hv.blkring_port)
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
        gp = hv.trap_table.get(13)
        if software and gp is not None:  # an INT n its entry does not allow: #GP(vector * 8 + 2),
            m.cpu.set_reg("eip", exit_.eip)  # a fault at the INT, as the hardware's gate check
            hv.bounce(gp[0], gp[1], vector * 8 + 2, mask=bool(gp[2] & 4))  # (Xen's do_gp)
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
        "event_channel_op": hypercall_event_channel_op, "blkring_op": hypercall_blkring_op,
        ExitReason.HYPERCALL: handle_unknown_hypercall,
        ExitReason.EXTERNAL_INTERRUPT: handle_event,
        ExitReason.EXCEPTION_NMI: handle_trap, ExitReason.SOFTWARE_INTERRUPT: handle_trap,
    })
    return table
