"""Paravirtualization: a modified kernel that asks the hypervisor instead of trapping.

The guest is *rebuilt* (``kernel-pv``: the same sources with ``--defsym PV=1``): every privileged
operation becomes a hypercall — ``int 0x82`` with EAX = number and arguments in EBX, ECX, EDX, ESI,
EDI, result in EAX, numbers as Xen's x86-32 ABI (Barham et al., SOSP 2003). Interrupts are masked
with a byte in the shared-info page (no trap at all), the console takes whole strings, HLT is
``sched_op(block)``, the timer is ``set_timer_op``, the IDT a trap table, GDT and CR3 are
validated by the hypervisor, return from interrupt is the ``iret`` hypercall, and ``multicall``
batches several calls into one entry. The kernel runs in ring 1, its task in ring 3.

System calls take Xen's *fast trap* (x86-32 Xen; Barham et al. 2003, sec. 2.1.2: a "fast"
exception handler for system calls, reached by the processor directly): when the trap table gives
``int 0x80`` a handler that user code may call (DPL 3) and that does not ask for events to be
masked, the hypervisor puts a DPL-3 trap gate for vector 0x80 straight to that handler in
the real IDT. A system call then goes from the task to the guest kernel as on bare hardware, the
kernel returns with a real IRETD (ring 1 may return to ring 3), and the hypervisor is never
entered. ``Paravirt(fast_trap=False)`` (``strategy_options={"fast_trap": False}``) keeps the path
Xen had to improve on: every system call traps into the hypervisor, which bounces it to the
guest's handler.

The hypervisor validates every argument: an unknown number returns -ENOSYS, a pointer outside the
guest's memory -EFAULT, a descriptor it must not accept -EINVAL — never a crash. The catch is that
the image is no longer universal: it runs only on a hypervisor that implements these calls, and
an unmodified kernel cannot run here (it would execute privileged instructions nobody emulates).
"""

from __future__ import annotations

import struct

from vlab.errors import GuestFault, VlabError
from vlab.hw.delivery import software_interrupt_start
from vlab.hw.devices import RING_VECTOR
from vlab.monitor.handlers import HandlerTable
from vlab.monitor.trace import ExitReason
from vlab.state import IF, NT, RF, TF, VM
from vlab.strategies.paravirt.abi import (
    _ARGS,
    EINVAL,
    ENOSYS,
    HYPERCALL_VECTOR,
    HYPERCALLS,
    PV_SIGNATURE,
    SHARED_CR2,
    SHARED_INFO,
    SYSCALL_VECTOR,
)
from vlab.strategies.paravirt.hypercalls import hypercall_handlers
from vlab.strategies.paravirt.mmu import PvMmu
from vlab.strategies.trap_emulate import TrapAndEmulate


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
    monitor_runs_in = "hypervisor (ring 0)"

    def __init__(self, handlers: HandlerTable | None = None, fast_trap: bool = True):
        super().__init__(handlers if handlers is not None else hypercall_handlers())
        self.fast_trap = bool(fast_trap)  # offer Xen's direct trap gate for int 0x80
        self.fast_traps = 0  # system calls that went straight to the guest kernel
        self.trap_table: dict[int, tuple[int, int, int]] = {}  # vector -> (cs, eip, flags)
        self.kernel_stack: tuple[int, int] | None = None  # (ss, esp) from stack_switch
        self.event_callback: tuple[int, int] | None = None
        self.hypercalls = 0
        self.blkring_port: int | None = None  # the event channel the block ring is bound to
        self.mmu: PvMmu | None = None

    # ------------------------------------------------------------------ set-up
    def attach(self, machine, trace) -> None:
        super().attach(machine, trace)
        self.vcpu.hv = self
        self.vcpu.guest_cpl_of = None  # a PV kernel knows it runs in ring 1: the real CPL
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
                **dict(mmu.stats), "fast_trap": self.fast_trap_gate() is not None,
                "fast_traps": self.fast_traps}

    def fast_trap_gate(self) -> tuple[int, int] | None:
        """(cs, eip) of the direct gate for int 0x80, if the hypervisor installed one: only when
        offered, and only for a trap-table entry that user code may call (DPL 3) and that does
        not mask events (a real trap gate cannot set the guest's event mask: Xen x86-32 installs
        it only then)."""
        entry = self.trap_table.get(SYSCALL_VECTOR)
        if not self.fast_trap or entry is None:
            return None
        cs, eip, flags = entry
        if flags & 3 != 3 or flags & 4 or cs & 3 == 0:
            return None
        return cs, eip

    STATE_FIELDS = ("trap_table", "kernel_stack", "event_callback", "hypercalls", "fast_traps",
                    "blkring_port")

    def save_state(self) -> dict:
        return {**super().save_state(), "mmu": self.mmu.save_state()}

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        self.mmu.load_state(state["mmu"])

    def events_enabled(self) -> bool:
        """The guest's interrupt flag is the shared-info mask: a byte it writes, never a trap."""
        if self.machine.cpu.cpl() == 3:
            return True
        return self.machine.memory.read(SHARED_INFO + 1, 1) == b"\x00"

    def reflect_fault(self, fault, exit_) -> str:
        """A hypercall asked for a transfer the CPU refuses: the guest gets -EINVAL; a trap's
        bounce that fails is a #GP through its trap table."""
        if exit_.reason == ExitReason.HYPERCALL:
            self.vcpu.regs.eax = EINVAL & 0xFFFF_FFFF
            return f"-EINVAL: {fault.reason}"
        entry = self.trap_table.get(13)
        if entry is None:
            raise GuestFault(f"{fault.reason}, and the paravirtual kernel has no #GP handler",
                             exit_.eip, exit_.instruction)
        self.bounce(entry[0], entry[1], fault.error_code, mask=bool(entry[2] & 4))
        return f"#GP({fault.error_code:#x}) through the trap table: {fault.reason}"

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
        if software and vector == SYSCALL_VECTOR:
            gate = self.fast_trap_gate()
            if gate is not None:  # the real IDT's gate: the CPU enters the guest kernel itself
                self.fast_traps += 1
                self.bounce(*gate, mask=False)
                m.clock.note_cpl()
                return
        if vector >= 32 and not software:
            event = "block ring" if vector == RING_VECTOR else "timer"
            self.dispatch(self._exit(ExitReason.EXTERNAL_INTERRUPT, m.cpu.eip, None,
                                     detail={"vector": vector, "event": event}, cost="inject"))
            return
        if software:  # (the INT's own address: INT3 and INTO are one byte, INT n two)
            eip = software_interrupt_start(m, vector)
            if eip is None:
                eip = m.cpu.eip - 2
        else:
            eip = m.clock.fault_eip or m.cpu.eip
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
        self.dispatch(self._exit(reason, eip, insn, detail=detail, instruction_bytes=False, cost="trap"))

    def io_permitted(self, port: int, size: int) -> bool:
        """The kernel's I/O comes to the hypervisor (which refuses it, :meth:`io`); a user task's
        is checked as the hardware checks it (SDM vol. 1, 19.5): IOPL is 0 (only ring 0 may
        raise it) and the hypervisor's TSS has no I/O permission bitmap, so every port is denied,
        as Xen denies a task whose kernel never asked for I/O rights (PHYSDEVOP_set_iopl,
        PHYSDEVOP_set_iobitmap, which vlab does not offer)."""
        m = self.machine
        if m.cpu.cpl() == self.kernel_ring:
            return True
        return m.io_permitted(port, size)

    def io(self, is_out: bool, port: int, size: int, value: int) -> int:
        m = self.machine
        if m.cpu.cpl() != self.kernel_ring:
            if not self.io_permitted(port, size):
                return m.refuse_io()  # #GP(0), reflected through the guest's trap table
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
            "number": number, "hypercall": name, "args": args}, instruction_bytes=False, cost="hypercall")
        self.dispatch(exit_)

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
