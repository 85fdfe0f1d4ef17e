"""The core's hooks: where Unicorn hands control back to vlab, turned into machine events.

Unicorn never delivers an interrupt or exception through the guest's IDT, and IN/OUT never
fault (measured on Unicorn 2.1.4): every such event reaches one of these hooks instead, which
reads what the core hides (the error code, whether an ``int n`` raised it, the stale fault state
to clear) and hands a clean event to the machine's :attr:`~vlab.hw.machine.Machine.monitor` —
the bare machine's own delivery, or a monitor that wants to see it. Hooks also keep the
monitor's reserved area out of the guest's reach, stop at breakpoints, and watch CPL changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import unicorn
from unicorn import x86_const as X

from vlab import layout
from vlab.errors import GuestFault, VlabError
from vlab.hw.clock import EXCEPTION_DELIVERED, Slice
from vlab.hw.core import VMX_BIT, bare_metal_cpuid
from vlab.hw.delivery import ERROR_CODE_VECTORS, vector_name
from vlab.isa import PREFIX_BYTES, decoder

if TYPE_CHECKING:
    from vlab.hw.machine import Machine

FAULT_STORM = 10_000  # the same fault this often with nothing retired: the guest is stuck
_ACCESS = {unicorn.UC_MEM_READ_UNMAPPED: "read", unicorn.UC_MEM_WRITE_UNMAPPED: "write",
           unicorn.UC_MEM_FETCH_UNMAPPED: "fetch", unicorn.UC_MEM_READ_PROT: "read",
           unicorn.UC_MEM_WRITE_PROT: "write", unicorn.UC_MEM_FETCH_PROT: "fetch"}
_PROTECTION_FAULTS = frozenset({unicorn.UC_MEM_READ_PROT, unicorn.UC_MEM_WRITE_PROT,
                                unicorn.UC_MEM_FETCH_PROT})


class Hooks:
    """Installs the core's hooks and owns what only they track (breakpoint and mode hooks,
    monitor-area bytes to put back)."""

    def __init__(self, machine: Machine):
        self._m = machine
        uc = machine.core.uc
        machine.core.on_interrupt(self._interrupt)
        uc.hook_add(unicorn.UC_HOOK_INSN_INVALID, self._invalid)
        uc.hook_add(unicorn.UC_HOOK_MEM_UNMAPPED | unicorn.UC_HOOK_MEM_FETCH_UNMAPPED
                    | unicorn.UC_HOOK_MEM_PROT, self._unmapped)  # (sealed RAM: Memory.seal_ram)
        uc.hook_add(unicorn.UC_HOOK_CODE, self._monitor_code, None, layout.MONITOR_BASE,
                    layout.MONITOR_BASE + layout.MONITOR_SIZE - 1)
        uc.hook_add(unicorn.UC_HOOK_INSN, self._cpuid, None, 1, 0, X.UC_X86_INS_CPUID)
        machine.core.on_ports(self._in, self._out)
        # The guest may not write the machine's reserved area (boot tables; the monitor's GDT,
        # TSS, IDT, trampoline and stack), under any strategy.
        uc.hook_add(unicorn.UC_HOOK_MEM_WRITE, self._monitor_write, None, layout.MONITOR_BASE,
                    layout.MONITOR_BASE + layout.MONITOR_SIZE - 1)
        self._breakpoints: dict[int, int] = {}
        self._mode_hook: int | None = None
        self._put_back: list[tuple[int, bytes]] = []

    # ------------------------------------------------------------------ breakpoints
    def add_breakpoint(self, address: int) -> None:
        if address in self._breakpoints:
            return
        core = self._m.core
        self._breakpoints[address] = core.on_execute(self._breakpoint, address, address)
        core.forget_code(address, address + 1)

    def remove_breakpoint(self, address: int) -> None:
        h = self._breakpoints.pop(address, None)
        if h is not None:
            self._m.core.remove_hook(h)
            self._m.core.forget_code(address, address + 1)

    def watch_mode_changes(self, on: bool) -> None:
        """A CPL change always ends a translation block, so a block hook sees each one."""
        uc = self._m.core.uc
        if on and self._mode_hook is None:
            self._mode_hook = uc.hook_add(unicorn.UC_HOOK_BLOCK, self._block)
            uc.ctl_flush_tb()
        elif not on and self._mode_hook is not None:
            self._m.core.remove_hook(self._mode_hook)
            self._mode_hook = None
            uc.ctl_flush_tb()

    def after_slice(self) -> None:
        """Put back monitor-area bytes a refused guest write changed."""
        for address, original in self._put_back:
            self._m.core.uc.mem_write(address, original)
        self._put_back.clear()

    # ------------------------------------------------------------------ the hooks
    def breakpoint_due(self, address: int) -> bool:
        """For another hook at ``address`` that would emulate the instruction (a translator's
        callout): is a breakpoint, or a pending interrupt the guest has just enabled, about to
        stop the guest here? Then it stops now, before the instruction, and the other hook must
        leave it alone (Unicorn runs hooks at one address in the order they were added, the
        breakpoint's or the interrupt window's perhaps last)."""
        s = self._m.clock.slice
        if address not in self._m.breakpoints:
            return self._m.clock.interrupt_due(address)
        if s is not None and (address == s.skip_bp
                              or s.skipped == (address, self._m.core.counter.value)):
            return False  # resuming from this breakpoint: this execution goes on
        self._m.clock.request_stop("breakpoint", address, adjust=-1)
        return True

    def _breakpoint(self, uc: unicorn.Uc, address: int, size: int, _: object) -> None:
        s = self._m.clock.slice
        if s is not None and address == s.skip_bp:  # resuming from here: let it execute once
            s.skip_bp = None
            s.skipped = (address, self._m.core.counter.value)
        self.breakpoint_due(address)

    def _monitor_code(self, uc: unicorn.Uc, address: int, size: int, _: object) -> None:
        """Only the monitor's own trampoline, entered by the monitor, may run up here."""
        clock = self._m.clock
        if address == layout.TRAMPOLINE and clock.trampoline_ring is not None:
            clock.trampoline_ring = None
            return
        clock.fail(GuestFault(f"the guest jumped into the machine's reserved memory at "
                              f"{address:#010x} (the monitor's area): refused", address))

    def _monitor_write(self, uc: unicorn.Uc, access: int, address: int, size: int,
                       value: int, _: object) -> None:
        """Only the CPU's own updates of a descriptor's Accessed or Busy bit pass; anything
        else stops the guest, and the bytes are put back."""
        old = bytes(uc.mem_read(address, size))
        if size == 4 and address % 8 == 4:
            before = int.from_bytes(old, "little")
            if (value & 0xFFFF_FFFF) ^ before in (0x100, 0x200) and value & 0xFFFF_FFFF > before:
                if (value ^ before) & 0x100:  # the CPU marking a descriptor accessed
                    self._m.monitor.descriptor_accessed(address - 4)
                return  # (or a TSS busy)
        self._put_back.append((address, old))
        eip = self._m.cpu.eip
        self._m.clock.fail(GuestFault(f"the guest wrote to the monitor's memory at {address:#010x} "
                                      "(refused: it is outside the guest's RAM)", eip,
                                      self._m.instruction_text(eip)))

    def _block(self, uc: unicorn.Uc, address: int, size: int, _: object) -> None:
        clock = self._m.clock
        cpl = uc.reg_read(X.UC_X86_REG_CS) & 3
        if cpl != clock.last_cpl:
            before, clock.last_cpl = clock.last_cpl, cpl
            blocks = self._m.core.blocks
            if blocks is not None and blocks.state.block_pc == address:  # (counted already:
                blocks.settle(blocks.before_block())  # the block will not run)
            clock.request_stop("mode_change", f"CPL {before} -> {cpl}")

    def _interrupt(self, intno: int) -> None:
        m = self._m
        clock = m.clock
        s = clock.slice
        if s is None:
            s = Slice()  # (outside a slice: the trampoline)
        core = m.core
        blocks = core.blocks  # delivery leaves the block here: count no further
        if blocks is not None and blocks.faults_taken:  # (the native hook before this one
            eip, counted, error_code, software = blocks.fault_taken()  # took it, and cut)
            if counted < 0:
                counted = blocks.cut_at(eip)
        else:
            error_code, software = core.fault.take()
            eip = core.registers.eip()
            counted = None if blocks is None else blocks.cut_at(eip)
        clock.fault_text_if_known = None
        code = None
        if not software:
            if intno in ERROR_CODE_VECTORS:
                code = error_code
            if not (intno == 14 and self._fetch_fault(eip)):
                s.uncounted += 1  # the faulting instruction did not retire (a fault on
                # fetching it came before Unicorn counted it at all)
            if s.exact:  # (free running: no counter, so no storm check)
                progress = (core.counter.value if counted is None else counted) - s.uncounted
                if eip == s.fault_eip and progress == s.fault_progress:
                    s.fault_streak += 1
                    if s.fault_streak >= FAULT_STORM:
                        clock.fail(GuestFault(
                            f"the guest is stuck: {vector_name(intno)} at the same "
                            f"instruction {FAULT_STORM:,} times in a row with no progress", eip,
                            m.instruction_text(eip)))
                        return
                else:
                    s.fault_streak = 0
                    s.fault_eip, s.fault_progress = eip, progress
            clock.faults += 1
        clock.fault_eip = eip
        clock.fault_software = software
        unretired = s.uncounted
        regs = core.registers
        was, regs.in_exception = regs.in_exception, regs.direct_eip
        try:
            m.monitor.interrupt(intno, code, software)
        except VlabError as e:
            clock.fail(e)
        except Exception as e:  # a bug in a handler must not kill the process
            clock.fail(GuestFault(f"internal error while handling vector {intno}: {e!r}", eip))
        else:
            if clock.stepping and not software and \
                    clock.step_ends_at_handler(eip, retired=s.uncounted < unretired):
                clock.request_stop("step", EXCEPTION_DELIVERED)
        finally:
            regs.in_exception = was

    def _fetch_fault(self, eip: int) -> bool:
        """Was this #PF raised by fetching the instruction at ``eip`` (CR2 inside its bytes)?
        (32-bit paging has no I/D bit in the error code: SDM vol. 3, 4.7.)"""
        m = self._m
        cr2 = m.cpu.reg("cr2")
        if not eip <= cr2 < eip + 15:
            return False
        try:
            code = m.memory.code_bytes(eip)
        except VlabError:
            return True  # its bytes cannot even be read: the fetch is what faulted
        insns = decoder().decode_many(code, eip, 1)
        return not insns or cr2 < eip + insns[0].size

    def _invalid(self, uc: unicorn.Uc, _: object) -> bool:
        m = self._m
        eip = m.cpu.eip
        if m.core.blocks is not None:
            m.core.blocks.cut_at(eip)
        m.clock.fault_eip = eip
        m.clock.fault_software = False
        m.clock.faults += 1
        m.clock.fault_text_if_known = None  # (decoded when a message needs it: clock.fault_text)
        vector = 6
        if self._is_int1(eip):  # INT1 (ICEBP, F1): a trap-like #DB after the instruction,
            vector = 1          # with no gate DPL check (SDM vol. 3, 6.4 and 18.3.1.5); the
            m.cpu.set_reg("eip", (eip + 1) & 0xFFFF_FFFF)  # core reports #UD instead
        elif m.clock.slice is not None:
            m.clock.slice.uncounted += 1
        s = m.clock.slice or Slice()  # (outside a slice: the trampoline)
        unretired = s.uncounted
        regs = m.core.registers
        was, regs.in_exception = regs.in_exception, regs.direct_eip
        try:
            m.monitor.interrupt(vector, None, False)
        except VlabError as e:
            m.clock.fail(e)
        except Exception as e:  # a bug in a handler must not kill the process
            m.clock.fail(GuestFault(f"internal error while handling #UD: {e!r}", eip))
        else:
            if m.clock.step_ends_at_handler(eip, retired=s.uncounted < unretired):
                m.clock.request_stop("step", EXCEPTION_DELIVERED)
        finally:
            regs.in_exception = was
        return True

    def _is_int1(self, eip: int) -> bool:
        try:
            return self._m.memory.code_bytes(eip)[:1] == b"\xf1"
        except VlabError:
            return False

    def _unmapped(self, uc: unicorn.Uc, access: int, address: int, size: int, value: int,
                  _: object) -> bool:
        m = self._m
        s = m.clock.slice or Slice()
        if access in _PROTECTION_FAULTS:  # sealed guest RAM (a guest hypervisor's EPT leaves
            if m.monitor.defers_unmapped(address):  # it out); other sealed pages are the
                s.fetch_miss, s.miss_access = address, _ACCESS[access]  # data watch's
            return False
        if m.monitor.maps_ram_on_demand and 0 <= address < m.memory.ram_size:
            if access == unicorn.UC_MEM_FETCH_UNMAPPED or m.monitor.defers_unmapped(address):
                # (mapped from outside the run: a page that appears in the middle of a
                # translation would escape the core's self-modifying-code tracking; an exit
                # that leaves the access undone happens there too)
                s.fetch_miss, s.miss_access = address, _ACCESS.get(access, "read")
                return False
            try:  # guest RAM the monitor maps on first touch (EPT): the access is retried
                mapped = m.monitor.unmapped_ram(_ACCESS.get(access, "read"), address)
                if mapped and m.watch.active:
                    m.watch.close()  # (a data breakpoint's page comes in open)
                return mapped
            except VlabError as e:
                m.clock.fail(e)
                return False
            except Exception as e:  # a bug in a handler must not kill the process
                m.clock.fail(GuestFault(f"internal error while mapping {address:#010x}: {e!r}",
                                        m.cpu.eip))
                return False
        s.unmapped = (address, size, access == unicorn.UC_MEM_FETCH_UNMAPPED)
        return False

    def _cpuid(self, uc: unicorn.Uc, _: object) -> int:
        """CPUID, answered as bare metal (no hypervisor bit: Unicorn's model describes a virtual
        machine); a monitor that intercepts CPUID (VT-x) answers instead."""
        if self._m.core.cpuid_intercepted:
            return self._m.core.cpuid_intercepted(uc, None)
        regs = (X.UC_X86_REG_EAX, X.UC_X86_REG_EBX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX)
        fast = self._m.core.registers
        leaf = fast.read(X.UC_X86_REG_EAX)
        values = bare_metal_cpuid(leaf, fast.read(X.UC_X86_REG_ECX))
        if leaf == 1 and self._m.vmx is not None:  # (VMX offered to the guest's code)
            values = (values[0], values[1], values[2] | VMX_BIT, values[3])
        for reg, value in zip(regs, values, strict=True):
            fast.write(reg, value)
        return 1

    def _in(self, port: int, size: int) -> int:
        m = self._m
        replay = m.devices.replay_in
        if replay is not None and replay[0] == self._string_in_key(port):
            m.devices.replay_in = None
            return replay[1]  # (the same iteration again: see below)
        s = m.clock.slice
        stopping = s is not None and s.stop_counted
        try:
            value = m.monitor.io(False, port, size, 0) & ((1 << (8 * size)) - 1)
        except VlabError as e:
            m.clock.fail(e)
            return 0
        if s is not None and s.stop_counted and not stopping and s.error is None:
            key = self._string_in_key(port)
            if key is not None:
                # A stop asked for inside INS (a device's interrupt, a monitor's exit
                # breakpoint): Unicorn stores the value, then leaves the instruction undone
                # (EIP, ECX, EDI as before this iteration) and runs it again on resume, which
                # would read the device twice. It was not retired; on resume the same
                # iteration gets the value already read (measured on Unicorn 2.1.4).
                s.stop_executed -= 1
                m.devices.replay_in = (key, value)
        return value

    def _string_in_key(self, port: int) -> tuple[int, ...] | None:
        """(EIP, ECX, EDI, port) if the instruction at EIP is INS (with or without prefixes),
        else None."""
        m = self._m
        eip = m.core.registers.eip()
        try:
            code = m.memory.code_bytes(eip, 4)
        except VlabError:
            return None
        i = 0
        while i < len(code) - 1 and code[i] in PREFIX_BYTES:
            i += 1
        if code[i] not in (0x6C, 0x6D):
            return None
        fast = m.core.registers
        return eip, fast.read(X.UC_X86_REG_ECX), fast.read(X.UC_X86_REG_EDI), port

    def _out(self, port: int, size: int, value: int) -> None:
        try:
            self._m.monitor.io(True, port, size, value)
        except VlabError as e:
            self._m.clock.fail(e)
