"""The VT-x model's root-mode handlers, keyed by Intel basic exit reason (SDM vol. 3, app. C).

A handler sees the VMCS (``vcpu.vmcs``): exit information to read (qualification, instruction
length, interruption information) and guest state to change, exactly what a KVM exit handler
reads with VMREAD. Same signature as every handler: ``handler(vcpu, exit) -> None``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlab.errors import GuestException, ProtectionFault
from vlab.hw import checks
from vlab.hw.core import HYPERVISOR_BIT, VMX_BIT, host_cpuid
from vlab.hw.vmcs import (
    INTR_TYPE_EXTERNAL,
    INTR_TYPE_HW_EXCEPTION,
    INTR_TYPE_SW_EXCEPTION,
    InterruptionInfo,
    intr_info,
)
from vlab.monitor import qualification as q
from vlab.monitor.handlers import (
    HandlerTable,
    handle_hlt,
    handle_invlpg,
    handle_io,
    handle_rdmsr,
    handle_rdtsc,
    handle_wrmsr,
)
from vlab.monitor.trace import Exit, ExitReason
from vlab.state import IF

if TYPE_CHECKING:
    from vlab.monitor.vcpu import VirtualCpu


# ------------------------------------------------------------------------ VT-x (root mode)
# Under the VT-x model a handler also sees the VMCS (``vcpu.vmcs``): exit information to read
# (qualification, instruction length, interruption information) and guest state to change.
def handle_cpuid(vcpu: VirtualCpu, exit_: Exit) -> None:
    """CPUID (always exits in VMX non-root): the host CPU's answer as a guest should see it,
    the hypervisor bit set (leaf 1, ECX bit 31), and VMX (ECX bit 5) as this monitor offers it:
    set where the guest may be a hypervisor itself (nested VMX), else hidden (VMXON is #UD)."""
    leaf = vcpu.regs.eax
    eax, ebx, ecx, edx = host_cpuid(leaf, vcpu.regs.ecx)
    if leaf == 1:
        vmx = VMX_BIT if vcpu.machine.vmx is not None else 0
        ecx = (ecx & ~VMX_BIT) | vmx | HYPERVISOR_BIT
    vcpu.regs.eax, vcpu.regs.ebx, vcpu.regs.ecx, vcpu.regs.edx = eax, ebx, ecx, edx
    vcpu.skip()


def handle_cr_access(vcpu: VirtualCpu, exit_: Exit) -> None:
    """Control-register access exit (reason 28), decoded from the exit qualification: the guest's
    CRs are in the VMCS guest-state area; bits the host owns go to the read shadow."""
    cr = q.decode_cr(exit_.qualification)
    vmcs = vcpu.vmcs
    if cr.access_type == 0:  # MOV to CR
        value = vcpu.regs[cr.register]
        vmx = vcpu.machine.vmx
        refused = {0: checks.cr0_refused, 4: lambda v: checks.cr4_refused(v, vmx is not None)
                   }.get(cr.cr, lambda _: None)(value)
        if not refused and vmx is not None:
            refused = vmx.cr_refused(cr.cr, value)
        if refused:  # the VM exit comes first; the hypervisor then injects #GP(0)
            raise ProtectionFault(f"MOV to CR{cr.cr}: {refused}")
        if cr.cr in (0, 4):
            mask = vmcs[f"CR{cr.cr}_GUEST_HOST_MASK"]
            vmcs[f"CR{cr.cr}_READ_SHADOW"] = (vmcs[f"CR{cr.cr}_READ_SHADOW"] & ~mask) | (value & mask)
        vmcs[f"GUEST_CR{cr.cr}"] = value
    elif cr.access_type == 1:  # MOV from CR (CR3 with CR3-store exiting)
        vcpu.regs[cr.register] = vmcs[f"GUEST_CR{cr.cr}"]
    elif cr.access_type == 2:  # CLTS
        vmcs["CR0_READ_SHADOW"] = vmcs["CR0_READ_SHADOW"] & ~0x8
        vmcs["GUEST_CR0"] = vmcs["GUEST_CR0"] & ~0x8
    else:  # LMSW: bits 3:0 (PE cannot be cleared)
        new = (vmcs["GUEST_CR0"] & ~0xE) | (cr.lmsw_data & 0xF) | (vmcs["GUEST_CR0"] & 1)
        vmcs["CR0_READ_SHADOW"] = (vmcs["CR0_READ_SHADOW"] & ~0xF) | (new & 0xF)
        vmcs["GUEST_CR0"] = new
    vcpu.skip()


KVM_ENOSYS = (-1000) & 0xFFFF_FFFF  # what KVM answers an unknown hypercall


def handle_vmcall(vcpu: VirtualCpu, exit_: Exit) -> None:
    """VMCALL (reason 18): a hypercall. vlab's monitor defines none: EAX = -KVM_ENOSYS."""
    vcpu.regs.eax = KVM_ENOSYS
    vcpu.skip()


def handle_exception_vmx(vcpu: VirtualCpu, exit_: Exit) -> None:
    """An exception the exception bitmap intercepts (reason 0): give it back to the guest by
    event injection on the next VM entry (SDM vol. 3, 26.6)."""
    if exit_.detail.get("page_fault") in ("hidden", "pt_write"):
        return  # the shadow page tables lacked a mapping: fixed in root mode, nothing to inject
    info = InterruptionInfo.decode(vcpu.vmcs["VM_EXIT_INTR_INFO"])
    if info.vector == 14:  # a true page fault: the guest reads CR2 natively (SDM 27.1: the
        vcpu.machine.cpu.set_reg("cr2", exit_.qualification)  # exit qualification is the address)
    kind = INTR_TYPE_SW_EXCEPTION if info.kind == INTR_TYPE_SW_EXCEPTION else INTR_TYPE_HW_EXCEPTION
    vcpu.vmcs["VM_ENTRY_INTR_INFO_FIELD"] = intr_info(info.vector, kind, info.error_code_valid)
    vcpu.vmcs["VM_ENTRY_EXCEPTION_ERROR_CODE"] = vcpu.vmcs["VM_EXIT_INTR_ERROR_CODE"]


def handle_external_interrupt_vmx(vcpu: VirtualCpu, exit_: Exit) -> None:
    """External interrupt (reason 1: the timer, the disk ...): its vector is in the exit's
    interruption information, and it came whatever the guest's IF (with external-interrupt
    exiting, RFLAGS.IF does not block external interrupts: SDM vol. 3C, 25.4.1). If the guest
    can take it now, inject it on VM entry through the VM-entry interruption-information field.
    If not (IF = 0: that VM entry would fail, 26.3.1.4), leave the request in the guest's
    (virtual) PIC and ask for an interrupt-window exit (reason 7), as KVM's enable_irq_window
    does: the PIC is asked again when the guest can take an interrupt, so a later, higher-
    priority request comes first and repeats of the same line merge, as on bare metal."""
    info = InterruptionInfo.decode(vcpu.vmcs["VM_EXIT_INTR_INFO"])
    if guest_interruptible(vcpu):
        vcpu.vmcs["VM_ENTRY_INTR_INFO_FIELD"] = intr_info(info.vector, INTR_TYPE_EXTERNAL)
    else:
        vcpu.machine.devices.pic.withdraw(info.vector)
        vcpu.vmcs.set_control("INTERRUPT_WINDOW_EXITING")


def handle_interrupt_window(vcpu: VirtualCpu, exit_: Exit) -> None:
    """Interrupt window (reason 7): the guest can take an interrupt now (RFLAGS.IF = 1, no
    blocking by STI or MOV SS: SDM vol. 3C, 25.2 and 26.6.5). Stop asking; inject what the
    guest's PIC presents now (nothing, if the guest masked it since)."""
    vcpu.vmcs.set_control("INTERRUPT_WINDOW_EXITING", False)
    pic = vcpu.machine.devices.pic
    vector = pic.pending_vector()
    if vector is not None:
        pic.acknowledge(vector)
        vcpu.vmcs["VM_ENTRY_INTR_INFO_FIELD"] = intr_info(vector, INTR_TYPE_EXTERNAL)


def guest_interruptible(vcpu: VirtualCpu) -> bool:
    """Could an external interrupt be injected at the next VM entry: the guest's RFLAGS.IF
    set and no blocking by STI or MOV SS in its interruptibility state (SDM vol. 3C,
    26.3.1.4 and 26.3.1.5)?"""
    vmcs = vcpu.vmcs
    return bool(vmcs["GUEST_RFLAGS"] & IF) and not vmcs["GUEST_INTERRUPTIBILITY_INFO"] & 3


def handle_triple_fault(vcpu: VirtualCpu, exit_: Exit) -> None:
    """Triple fault (reason 2): the guest is dead; the run stops with TripleFault."""


def handle_monitor_trap(vcpu: VirtualCpu, exit_: Exit) -> None:
    """Monitor trap flag (reason 37): one guest instruction has run; nothing to emulate."""


def handle_ept_violation(vcpu: VirtualCpu, exit_: Exit) -> None:
    """EPT violation (reason 48): the guest touched a guest-physical page the EPT does not map.
    vlab's hypervisor allocates guest RAM on demand: map the page (read, write, execute); the
    guest then retries the access (nothing to skip)."""
    vcpu.ept.map(vcpu.vmcs["GUEST_PHYSICAL_ADDRESS"])


def handle_vmx_instruction(vcpu: VirtualCpu, exit_: Exit) -> None:
    """A VMX instruction (reasons 19-27, 50, 53): the guest is a hypervisor itself (L1) and this
    monitor (L0) offers it VMX. The instruction is carried out on that VMX — the processor model
    the native machine has (vlab.hw.vmx): VMsucceed or VMfail, a fault, or for VMLAUNCH and
    VMRESUME the entry into L1's own guest (L2), whose exits then go to L1 as its VMCS says
    (nested virtualization, as KVM's nVMX does it)."""
    if not vcpu.machine.vmx.execute():
        raise GuestException(f"{exit_.instruction}: #UD (CR4.VMXE is 0, or outside VMX "
                             "operation: SDM vol. 3C, 30.3)", 6)
    vcpu.advanced = True  # (done, or a fault delivered: nothing left to emulate)


def vmx_handlers() -> HandlerTable:
    """vlab's root-mode handler table for the VT-x model (keyed by Intel basic exit reason)."""
    return HandlerTable({
        ExitReason.CPUID: handle_cpuid, ExitReason.HLT: handle_hlt,
        ExitReason.IO_INSTRUCTION: handle_io, ExitReason.CR_ACCESS: handle_cr_access,
        ExitReason.RDMSR: handle_rdmsr, ExitReason.WRMSR: handle_wrmsr,
        ExitReason.INVLPG: handle_invlpg, ExitReason.RDTSC: handle_rdtsc,
        ExitReason.VMCALL: handle_vmcall, ExitReason.EXCEPTION_NMI: handle_exception_vmx,
        ExitReason.EXTERNAL_INTERRUPT: handle_external_interrupt_vmx,
        ExitReason.INTERRUPT_WINDOW: handle_interrupt_window,
        ExitReason.TRIPLE_FAULT: handle_triple_fault, ExitReason.MONITOR_TRAP_FLAG: handle_monitor_trap,
        ExitReason.EPT_VIOLATION: handle_ept_violation,
        **{reason: handle_vmx_instruction for reason in (
            ExitReason.VMCLEAR, ExitReason.VMLAUNCH, ExitReason.VMPTRLD, ExitReason.VMPTRST,
            ExitReason.VMREAD, ExitReason.VMRESUME, ExitReason.VMWRITE, ExitReason.VMXOFF,
            ExitReason.VMXON, ExitReason.INVEPT, ExitReason.INVVPID)},
    })
