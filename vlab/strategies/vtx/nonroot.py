"""VMX non-root operation for a guest hypervisor's own guest: vlab's VT-x model, driven by the
processor's VM exit instead of vlab's handlers.

Under the native strategy the guest may be a hypervisor: it enters VMX operation and launches a
guest of its own with VMX instructions (:mod:`vlab.hw.vmx`). What causes a VM exit while that
guest runs is decided here by the very rules of the vtx strategy (:class:`~vlab.strategies.vtx.VtX`:
the controls, the I/O and MSR bitmaps, the CR guest/host masks, the exception bitmap, CPUID and
the VMX instructions always), read from the guest hypervisor's VMCS. Where the vtx strategy then
runs a Python handler and re-enters, here the exit is the hardware's: the exit information and
the guest state go into that VMCS, the host state is loaded, and the guest hypervisor's code runs
at HOST_RIP (SDM vol. 3C, chapter 27). Each exit is in the lab's trap log, as the hardware's.
"""

from __future__ import annotations

from types import MappingProxyType

from vlab.hw.vmcs import (
    ACKNOWLEDGE_INTERRUPT_ON_EXIT,
    FIELDS,
    INTR_INFO_VALID,
    INTR_TYPE_EXTERNAL,
    INTR_TYPE_HW_EXCEPTION,
    INTR_TYPE_NMI,
    InterruptionInfo,
    Vmcs,
    intr_info,
)
from vlab.hw.vmx import MNEMONICS, VmxUnit
from vlab.isa import Instruction
from vlab.monitor.base import Strategy
from vlab.monitor.scanner import CodeScanner
from vlab.monitor.trace import ExitReason
from vlab.strategies.vtx import VtX
from vlab.strategies.vtx.ept import ept_qualification

GUEST_HYPERVISOR = "the guest hypervisor (HOST_RIP)"


class NonRoot(VtX):
    """The driver of non-root operation for :class:`vlab.hw.vmx.VmxUnit`."""

    title = "VMX non-root (a guest hypervisor's guest)"
    vmx_exits = dict(MNEMONICS)  # every VMX instruction exits in non-root operation (25.1.2)
    state_name = "vmx guest"  # (beside the strategy's own "monitor" in snapshots)
    triple_fault_ends_the_run = False  # (a VM exit, reason 2: the guest hypervisor handles it)

    def __init__(self, unit: VmxUnit, owner: Strategy):
        # (EPT "on": the guest's control registers are the core's own, as on hardware with or
        # without EPT; vlab keeps no shadow page tables for a guest hypervisor's guest)
        super().__init__(ept=True)
        self.unit = unit
        self.owner = owner  # the strategy whose machine this is: its trap log, its observers
        self.name = owner.name
        #: who exits to whom, in the trap log: under native the hardware's VM exit into the
        #: hypervisor; under vlab's VT-x model (L0) an exit of L2 reflected to L1
        nested = owner.name != "native"
        self.level = MappingProxyType({"level": "L2 → L1 (reflected by L0)" if nested
                                       else "guest → hypervisor"})
        self._root_cpuid = None  # the CPUID interceptor of root operation (L0's, if any)
        #: guest RAM the guest hypervisor's EPT leaves out, and what of it this driver took out
        #: of the core while the guest runs (given back in root operation)
        self._holes: tuple[tuple[int, int], ...] = ()
        self._hidden: list[tuple[int, int]] = []

    def attach(self, machine, trace) -> None:
        CodeScanner.attach(self, machine, trace)  # (the scanner and the monitor's parts only:
        machine.monitor = self.unit.root_monitor  # root operation until the first VM entry)

    def report_exit(self, exit_, outcome=None) -> None:
        self.owner.report_exit(exit_, outcome)

    # ------------------------------------------------------------------ snapshots
    def save_state(self) -> dict:
        """The scanner's and the monitor's parts (the VMCSs are the processor's: vlab.hw.vmx)."""
        return CodeScanner.save_state(self)

    def load_state(self, state: dict) -> None:
        CodeScanner.load_state(self, state)

    def resume(self, vmcs: Vmcs | None) -> None:
        if vmcs is None:
            self._root()
        else:
            self._become_monitor(vmcs)

    def _become_monitor(self, vmcs: Vmcs) -> None:
        m = self.machine
        self.vmcs = self.vcpu.vmcs = vmcs
        if m.monitor is not self:
            self._root_cpuid = m.core.cpuid_intercepted
        m.monitor = self
        m.core.on_cpuid(self._on_cpuid)
        self._sync_mtf()
        ept = bool(vmcs.control("ACTIVATE_SECONDARY_CONTROLS") and vmcs.control("ENABLE_EPT"))
        self._holes = self.unit.ept_holes(vmcs) if ept else ()
        self._hide(self._holes)

    def _hide(self, holes) -> None:
        """Seal the guest RAM the EPT leaves out (what of it is in the core: under the vtx
        strategy, vlab's own EPT may not have mapped it yet), so that the guest's access stops
        the core: an EPT violation."""
        mapped = self.unit.root_monitor.mapped_frames
        for start, end in holes:
            first = None  # the first frame of a run of mapped frames
            for frame in range(start >> 12, end >> 12):
                if mapped(frame):
                    first = frame if first is None else first
                elif first is not None:
                    self._hidden.append((first, frame))
                    first = None
            if first is not None:
                self._hidden.append((first, end >> 12))
        for first, last in self._hidden:
            self.machine.memory.seal_ram(first << 12, last << 12)

    def _root(self) -> None:
        """Root operation: nothing of non-root's stays hooked (CPUID, the monitor trap flag),
        and the guest hypervisor's RAM is in the core again."""
        m = self.machine
        m.monitor = self.unit.root_monitor
        m.core.cpuid_intercepted = self._root_cpuid
        for first, last in self._hidden:
            m.memory.seal_ram(first << 12, last << 12, sealed=False)
        self._hidden, self._holes = [], ()
        self._sync_mtf(False)

    # ------------------------------------------------------------------ VM entry, VM exit
    def enter(self, vmcs: Vmcs) -> None:
        """The processor has loaded the guest state: non-root operation begins, with the event
        the VM-entry interruption-information field injects, if any (26.5)."""
        m = self.machine
        self._become_monitor(vmcs)
        raw = vmcs.vmread("VM_ENTRY_INTR_INFO_FIELD")
        info = InterruptionInfo.decode(raw)
        if info.valid:
            vmcs._store(FIELDS["VM_ENTRY_INTR_INFO_FIELD"],  # noqa: SLF001 (consumed: the
                        raw & ~INTR_INFO_VALID)                 # CPU's own write)
            code = vmcs.vmread("VM_ENTRY_EXCEPTION_ERROR_CODE") if info.error_code_valid else None
            software = info.kind not in (INTR_TYPE_EXTERNAL, INTR_TYPE_NMI, INTR_TYPE_HW_EXCEPTION)
            if software:  # (a software interrupt or exception: after the instruction that
                eip = m.cpu.eip + vmcs.vmread("VM_ENTRY_INSTRUCTION_LEN")  # raised it)
                m.cpu.set_reg("eip", eip)
            self._deliver(info.vector, code, software)
        else:
            self.scan_next_entry()

    def vm_exit(self, reason: ExitReason, eip: int, insn: Instruction | None, qual: int = 0,
                intr: int = 0, error_code: int = 0, from_fault: bool = False,
                in_hook: bool = False, detail: dict | None = None,
                also_saved: dict[str, int] | None = None) -> None:
        """The hardware's VM exit: save, report, load the host state (27.2-27.5)."""
        m = self.machine
        # the activity state (an exit that wakes a halted guest, e.g. an external interrupt,
        # saves "HLT") and the interruptibility state, which vlab does not track (27.3.4)
        halted, m.clock.halted = m.clock.halted, False
        also_saved = {"GUEST_ACTIVITY_STATE": int(halted), "GUEST_INTERRUPTIBILITY_INFO": 0,
                      **(also_saved or {})}
        self.save_exit(reason, eip, insn, qual, intr, error_code, also_saved)
        detail = self.level if detail is None else {**detail, **self.level}
        exit_ = self._exit(reason, eip, insn, qual, detail=detail, cost=self.exit_cost,
                           handler=GUEST_HYPERVISOR)
        self._root()
        self.unit.exit_to_host(self.vmcs, int(reason), qual,
                               m.clock.defer_eip if in_hook else None)
        self.report_exit(exit_)

    def failed_entry(self, vmcs: Vmcs, reason: int, qualification: int, why: str) -> None:
        """In the trap log: the failed entry, as the exit it is (reason with bit 31 set)."""
        eip = vmcs.vmread("GUEST_RIP")
        exit_ = self._exit(ExitReason(reason), eip, None, qualification,
                           detail={**self.level, "VM-entry failure": why,
                                   "exit reason": f"{reason | 1 << 31:#010x}"},
                           cost=self.exit_cost, handler=GUEST_HYPERVISOR)
        self.report_exit(exit_)

    # ------------------------------------------------------------------ what exits
    def hlt(self) -> None:
        if self.vmcs.control("HLT_EXITING"):
            self.machine.clock.halted = False  # (the guest hypervisor runs instead)
            super().hlt()

    def accepts_external_interrupt(self) -> bool:
        """With external-interrupt exiting an interrupt causes a VM exit whatever the guest's
        IF (25.4.1); without it, the guest's IF decides (it goes through the guest's IDT)."""
        return self.vmcs.control("EXTERNAL_INTERRUPT_EXITING") or self.interrupts_enabled()

    def interrupt(self, vector: int, error_code: int | None, software: bool) -> None:
        if vector >= 32 and not software and self.vmcs.control("EXTERNAL_INTERRUPT_EXITING"):
            m = self.machine
            # "acknowledge interrupt on exit" (24.7.1): the PIC's acknowledge cycle happens and
            # the vector is in the exit's interruption information; without it the interrupt
            # stays requested for the host to take (27.2.2)
            if self.vmcs.vmread("VM_EXIT_CONTROLS") & ACKNOWLEDGE_INTERRUPT_ON_EXIT:
                info = intr_info(vector, INTR_TYPE_EXTERNAL)
            else:
                m.devices.pic.withdraw(vector)
                info = 0
            self.vm_exit(ExitReason.EXTERNAL_INTERRUPT, m.cpu.eip, None, intr=info)
            return
        super().interrupt(vector, error_code, software)

    def defers_unmapped(self, address: int) -> bool:
        return any(start <= address < end for start, end in self._holes)

    def unmapped_ram(self, access: str, address: int) -> bool:
        """The guest touched guest RAM its hypervisor's EPT leaves out: an EPT violation (exit
        reason 48, the qualification of table 27-7, the guest-physical and linear addresses:
        27.2.1), the instruction undone. Other RAM the core lacks is root operation's to map
        (vlab's own EPT under the vtx strategy: L0's, for L2 as for L1)."""
        if not self.defers_unmapped(address):
            return self.unit.root_monitor.unmapped_ram(access, address)
        m = self.machine
        eip = m.cpu.eip
        insn = self._decode(eip)
        linear = self._violation_linear(access, address, eip, insn)
        qual = ept_qualification(access, 0, linear_valid=linear is not None)
        self.vm_exit(ExitReason.EPT_VIOLATION, eip, insn, qual,
                     detail={"gpa": address, "access": access},
                     also_saved={"GUEST_PHYSICAL_ADDRESS": address,
                                 "GUEST_LINEAR_ADDRESS": linear or 0})
        return False

    @property
    def maps_ram_on_demand(self) -> bool:
        return bool(self._holes) or self.unit.root_monitor.maps_ram_on_demand

    @maps_ram_on_demand.setter
    def maps_ram_on_demand(self, value: bool) -> None:
        """(set by the class it inherits from: root operation's monitor decides)"""

    def prepare_descriptor_read(self, linear: int, write: bool) -> None:
        self.unit.root_monitor.prepare_descriptor_read(linear, write)
