"""Hardware-assisted virtualization: a model of Intel VT-x.

The unmodified kernel runs in VMX *non-root* mode at CPL 0: its instructions execute natively, so
POPF, SMSW and ``mov eax, cs`` behave exactly as on bare metal — there are no holes. What reaches
the monitor (in *root* mode) is exactly what the VMCS controls select (SDM vol. 3, chapter 25):
CPUID always; HLT, INVLPG, RDTSC, CR3 loads/stores, I/O (unconditionally or per I/O bitmap),
RDMSR/WRMSR (per MSR bitmap), MOV to CR0/CR4 touching bits the host owns (guest/host masks and
read shadows), exceptions in the exception bitmap, external interrupts, VMCALL and triple faults.
Each VM exit fills the VMCS exit-information fields with Intel's basic exit reason, qualification,
instruction length and interruption information; the root-mode handler reads them, emulates, and
resumes with VM entry — optionally injecting an event (the timer) through the VM-entry
interruption-information field. Change a control (``lab.vmcs.set_control("HLT_EXITING", False)``)
and the exits change with it, live.

Unicorn cannot execute VMX, so vlab models it: the guest really runs at CPL 0 on the core, and the
instructions that *could* exit are found by scanning code once (``vlab/monitor/scanner.py``) and
hooked at their exact addresses; CPUID and I/O use Unicorn's instruction hooks, exceptions its
interrupt hook. Nothing is hooked on the fast path, so a guest with no exits runs at core speed.
"""

from __future__ import annotations

from vlab.errors import GuestException, HandlerError, TripleFault, VlabError
from vlab.hw import delivery
from vlab.hw.delivery import DeliveryView, RealView
from vlab.hw.vmcs import (
    FIELDS,
    INTR_TYPE_EXTERNAL,
    INTR_TYPE_HW_EXCEPTION,
    INTR_TYPE_SW_EXCEPTION,
    InterruptionInfo,
    Vmcs,
    intr_info,
)
from vlab.hw.vmx import instruction_information
from vlab.isa import Instruction, decoder, operands
from vlab.monitor.dispatch import Monitor, cr_qualification, io_qualification
from vlab.monitor.handlers import HandlerTable, lmsw_source, operand_address
from vlab.monitor.scanner import CodeScanner
from vlab.monitor.trace import Exit, ExitReason
from vlab.strategies.vtx.ept import Ept
from vlab.strategies.vtx.handlers import vmx_handlers
from vlab.strategies.vtx.memory import VtxMemory

#: Instructions that a VM-execution control can make exit (besides CPUID, I/O and HLT, which
#: have their own triggers) or whose result non-root mode changes (reads of shadowed CRs).
_CANDIDATES = frozenset({"clts", "lmsw", "smsw", "rdmsr", "wrmsr", "invlpg", "rdtsc", "rdpmc",
                         "cpuid"})
_STATE = ("CR0", "CR3", "CR4")
_ENTRY_INFO = FIELDS["VM_ENTRY_INTR_INFO_FIELD"]


class VtX(CodeScanner, VtxMemory, Monitor):
    capabilities = frozenset({"virtual_cpu", "shadow_paging", "vmcs", "ept"})
    name = "vtx"
    title = "hardware-assisted (VT-x model)"
    kernel_ring = 0
    monitor_runs_in = "VMX root"
    charge_translation = False  # scanning is how vlab models the hardware: it costs nothing

    #: The VMX instructions that exit in VMX non-root operation (mnemonic -> basic reason):
    #: VMCALL here (vlab's VT-x model offers its guest no VMX of its own, so the others are #UD).
    vmx_exits: dict[str, int] = {"vmcall": int(ExitReason.VMCALL)}
    #: After the triple-fault exit, is the guest dead? (vlab's monitor stops it; a guest
    #: hypervisor's handler decides for its own guest: nonroot.NonRoot)
    triple_fault_ends_the_run = True

    def __init__(self, handlers: HandlerTable | None = None, generation: str = "recent",
                 profile: bool = False, ept: bool | None = None, ept_lazy: bool = True,
                 nested: bool | None = None):
        super().__init__(handlers if handlers is not None else vmx_handlers())
        if generation not in ("recent", "first"):
            raise VlabError(f"generation {generation!r}: use 'recent' (a few hundred cycles per "
                            "exit) or 'first' (first-generation VT-x, thousands)")
        self.generation = generation
        #: Extended page tables: on by default on recent cores; first-generation VT-x had none,
        #: so its monitor keeps shadow page tables (as a software monitor does).
        self.ept_enabled = (generation == "recent") if ept is None else bool(ept)
        self.ept_lazy = ept_lazy
        self.ept: Ept | None = None
        #: Nested VMX: the guest may be a hypervisor itself (VMXON ... VMLAUNCH, its exits
        #: reflected to it). vlab's model needs EPT for it (no shadow tables for a nested guest).
        self.nested = self.ept_enabled if nested is None else bool(nested)
        if self.nested and not self.ept_enabled:
            raise VlabError("nested VMX needs EPT in vlab's model (ept=True): with shadow page "
                            "tables the monitor would have to shadow its guest's guest as well")
        self._guest_cr0 = self._guest_cr3 = 0
        self._guest_cr2 = 0  # (the core's CR2 also changes on hidden faults, which it must not)
        self.exit_cost = "vmexit_recent" if generation == "recent" else "vmexit_first_gen"
        self.vmcs = Vmcs()
        self.init_scanner(profile)
        self._mtf_hook: int | None = None
        self._mtf_first = False  # the MTF exit comes after an instruction, not before the first
        self._io_value, self._io_result = 0, None
        self._defaults()

    def _defaults(self) -> None:
        """A KVM-like configuration (SDM names): intercept what a hypervisor must own."""
        v = self.vmcs
        for name in ("EXTERNAL_INTERRUPT_EXITING", "HLT_EXITING", "INVLPG_EXITING",
                     "CR3_LOAD_EXITING", "UNCOND_IO_EXITING", "USE_MSR_BITMAPS"):
            v.set_control(name)
        v["EXCEPTION_BITMAP"] = 0
        v["CR0_GUEST_HOST_MASK"] = 0x8000_0021  # PG, NE, PE: the host owns them
        v["CR4_GUEST_HOST_MASK"] = 0x0000_2000  # VMXE: hidden from the guest
        if self.ept_enabled:  # the MMU is virtualized in hardware: CR3 and #PF stay in the guest
            v.set_control("ACTIVATE_SECONDARY_CONTROLS")
            v.set_control("ENABLE_EPT")
            for name in ("CR3_LOAD_EXITING", "INVLPG_EXITING"):
                v.set_control(name, False)
        else:  # shadow page tables: the monitor must see CR3, INVLPG and every #PF (as KVM)
            v.set_control("CR3_STORE_EXITING")
            v["EXCEPTION_BITMAP"] = 1 << 14
            v["CR0_GUEST_HOST_MASK"] = 0x8001_0021  # and WP, which the shadow forces on

    # ------------------------------------------------------------------ set-up
    def attach(self, machine, trace) -> None:
        super().attach(machine, trace)
        self.vcpu.vmcs = self.vmcs
        machine.cpu.vmx_mode = "non-root"
        machine.core.on_cpuid(self._on_cpuid)
        if self.ept_enabled:
            self.ept = self.vcpu.ept = Ept(machine, lazy=self.ept_lazy)
            self.maps_ram_on_demand = True
        if self.nested:
            self._offer_vmx(machine, trace)

    def _offer_vmx(self, machine, trace) -> None:
        """The VMX this monitor (L0) gives its guest: the native machine's processor model
        (vlab.hw.vmx), whose instructions the guest's exits reach (handle_vmx_instruction);
        the guest's own guest (L2) runs under the same VT-x model (nonroot.NonRoot), every one
        of its exits reflected to the guest (L1) as L1's VMCS says."""
        from vlab.hw.checks import CR4_SUPPORTED
        from vlab.hw.vmx import MNEMONICS, VmxUnit
        from vlab.strategies.vtx.nonroot import NonRoot

        unit = VmxUnit(machine, None, CR4_SUPPORTED, modes=("non-root", "non-root (L2)"))
        machine.vmx = unit
        unit.driver = NonRoot(unit, self)
        unit.driver.attach(machine, trace)
        machine.attach_state("vmx", unit)
        self.vmx_exits = dict(MNEMONICS)

    STATE_FIELDS = ("_guest_cr0", "_guest_cr3", "_guest_cr2", "_io_value", "_io_result")

    # ------------------------------------------------------------------ interrupts
    def accepts_external_interrupt(self) -> bool:
        """With external-interrupt exiting, RFLAGS.IF does not block external interrupts: one
        causes a VM exit even at IF = 0 (SDM vol. 3C, 25.4.1 "Event blocking"); without it,
        the guest's IF decides and the interrupt goes through the guest's IDT. (Blocking by
        STI or MOV SS is implementation-specific there; vlab's model honours it.) While the
        root handler waits for an interrupt window, the request stays pending: no more exits."""
        if self.vmcs.control("EXTERNAL_INTERRUPT_EXITING"):
            return not self.vmcs.control("INTERRUPT_WINDOW_EXITING")
        return self.interrupts_enabled()

    def interrupt_window(self) -> str | None:
        if not self.vmcs.control("INTERRUPT_WINDOW_EXITING"):
            return None
        return "open" if self.machine.cpu.real_if() else "wait"

    def open_interrupt_window(self) -> None:
        """Interrupt-window exiting: a VM exit before the first instruction at which RFLAGS.IF
        is 1 and nothing blocks interrupts (SDM vol. 3C, 25.2 and 26.6.5), reason 7."""
        self.vm_exit(ExitReason.INTERRUPT_WINDOW, self.machine.cpu.eip, None)

    def save_state(self) -> dict:
        return {**super().save_state(), "vmcs": self.vmcs.save_state(),
                "ept": self.ept.save_state() if self.ept is not None else None}

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        self.vmcs.load_state(state["vmcs"])
        if self.ept is not None:
            self.ept.load_state(state["ept"])
        self._sync_mtf()

    def page_fault_raised(self, address: int) -> None:
        self._guest_cr2 = address

    def unmapped_ram(self, access: str, address: int) -> bool:
        return self._on_ept_violation(access, address)

    def boot(self) -> None:
        v, m = self.vmcs, self.machine
        cr0 = m.cpu.reg("cr0")
        v["CR0_READ_SHADOW"] = cr0
        v["CR4_READ_SHADOW"] = m.cpu.reg("cr4")
        for cr in _STATE:
            v[f"GUEST_{cr}"] = m.cpu.reg(cr.lower())
        v["HOST_CR0"], v["HOST_RIP"] = cr0, 0  # the monitor's own state (modelled, not used)
        v["EPT_POINTER"] = 0x6 | (3 << 3) if self.ept_enabled else 0  # write-back, 4-level walk
        self._guest_cr0, self._guest_cr3 = cr0, m.cpu.reg("cr3")
        self.ensure_translated(m.cpu.eip)

    def guest_view(self) -> dict:
        m = self.machine
        return {"cpl": m.cpu.cpl(), "IF": m.cpu.real_if(), "vmx": m.cpu.vmx_mode}

    # ------------------------------------------------------------------ the exit path
    def vm_exit(self, reason: ExitReason, eip: int, insn: Instruction | None, qual: int = 0,
                intr: int = 0, error_code: int = 0, from_fault: bool = False,
                in_hook: bool = False, detail: dict | None = None,
                also_saved: dict[str, int] | None = None) -> None:
        """VM exit: save guest state and exit information in the VMCS (``also_saved``: the
        exit-information fields only this reason writes), run the root-mode handler, then VM
        entry (load guest state, inject the pending event)."""
        m = self.machine
        crs = self.save_exit(reason, eip, insn, qual, intr, error_code, also_saved)
        m.cpu.vmx_mode = "root"
        if intr or reason == ExitReason.IO_INSTRUCTION:
            detail = dict(detail or {})
            if intr:
                detail["intr_info"] = intr
            if reason == ExitReason.IO_INSTRUCTION:
                detail["value"] = self._io_value
        exit_ = self._exit(reason, eip, insn, qual, detail=detail, cost=self.exit_cost)
        self.vcpu.in_io_hook, self.vcpu.string_in_value = in_hook, None
        try:
            self.dispatch(exit_, from_fault=from_fault)
        finally:
            self.vcpu.in_io_hook = False
            if m.cpu.vmx_mode == "root":  # (a nested VMLAUNCH/VMRESUME entered L2 instead)
                m.cpu.vmx_mode = "non-root"
        if self.vcpu.string_in_value is not None:
            self._io_result = self.vcpu.string_in_value
        self.vm_entry(crs)

    def save_exit(self, reason: ExitReason, eip: int, insn: Instruction | None, qual: int,
                  intr: int, error_code: int, also_saved: dict[str, int] | None
                  ) -> tuple[int, int, int]:
        """The processor's writes at a VM exit (SDM vol. 3, 27.2-27.3): the exit information,
        and the guest state as it is at the exit (captured now, stored in the VMCS when someone
        looks: a later look must not see the CPU as it is then). Returns the guest's CR0, CR3
        and CR4 as saved."""
        v = self.vmcs
        v.mark_exit()
        length = len(insn.raw) if insn is not None else 0
        crs = self._guest_crs()
        esp, eflags, *segments = self.machine.cpu.exit_state()
        v.save_exit_state((int(reason), qual, length, intr, error_code, eip, esp, eflags, *crs,
                           *segments))
        if also_saved:
            v.save_at_exit(also_saved)
        return crs

    def vm_entry(self, saved: tuple[int, int, int]) -> None:
        """Load what the handler changed in the guest-state area (``saved``: CR0, CR3 and CR4
        as the exit saved them); deliver an injected event through the guest IDT (SDM vol. 3,
        26.6 "Event injection")."""
        v, m = self.vmcs, self.machine
        changed = () if v.exit_state_untouched() else \
            {cr for cr, before in zip(_STATE, saved, strict=True) if v[f"GUEST_{cr}"] != before}
        if self.ept_enabled:
            for cr in changed:
                m.cpu.set_reg(cr.lower(), v[f"GUEST_{cr}"])
        elif changed:
            self.control_registers_changed()
        raw = v.vmread(_ENTRY_INFO)
        info = InterruptionInfo.decode(raw) if raw else None  # (bit 31, valid, is never set alone)
        if info is not None and info.valid and info.kind == INTR_TYPE_EXTERNAL \
                and not m.cpu.real_if():
            v["VM_ENTRY_INTR_INFO_FIELD"] = 0
            raise HandlerError(
                f"VM entry failed: the handler injects external interrupt {info.vector:#x} "
                "while the guest's RFLAGS.IF is 0 (SDM vol. 3C, 26.3.1.4: an injected external "
                "interrupt needs IF = 1). Keep it and set INTERRUPT_WINDOW_EXITING: the "
                "interrupt-window exit (reason 7) comes when the guest can take it.")
        if info is not None and info.valid:
            v["VM_ENTRY_INTR_INFO_FIELD"] = 0  # consumed by this entry
            code = v["VM_ENTRY_EXCEPTION_ERROR_CODE"] if info.error_code_valid else None
            self._deliver(info.vector, code, info.kind == INTR_TYPE_SW_EXCEPTION)
        self._sync_mtf()
        v.note_changes()

    def _deliver(self, vector: int, error_code: int | None, software: bool) -> None:
        """Deliver through the guest's IDT, as the CPU does in non-root mode (an injected event,
        or one no control makes exit); the handler's code is scanned for the instructions the
        controls make exit, as any code the guest reaches."""
        try:
            delivery.deliver(self.machine, vector, error_code, software)
        except TripleFault:
            self.vm_exit(ExitReason.TRIPLE_FAULT, self.machine.cpu.eip, None)
            if self.triple_fault_ends_the_run:
                raise
            return
        self.scan_next_entry()

    def after_exit(self, exit_: Exit) -> None:
        self.scan_next_entry()

    def reflect_fault(self, fault: GuestException, exit_: Exit) -> str:
        """The handler found that the instruction faults (a non-existent MSR, a reserved CR0
        combination): inject the exception on VM entry, as a hypervisor does (KVM's
        ``kvm_inject_gp``); the guest handles it through its own IDT."""
        has_code = fault.error_code is not None
        self.vmcs["VM_ENTRY_INTR_INFO_FIELD"] = intr_info(fault.vector, INTR_TYPE_HW_EXCEPTION,
                                                          has_code)
        self.vmcs["VM_ENTRY_EXCEPTION_ERROR_CODE"] = fault.error_code or 0
        return f"vector {fault.vector} injected: {fault.reason}"

    def single_step_trap(self) -> None:
        self._deliver(1, None, False)

    # ------------------------------------------------------------------ triggers
    def needs_callout(self, insn: Instruction) -> str | None:
        mn = insn.mnemonic
        if mn in _CANDIDATES or (mn == "mov" and "cr" in insn.op_str):
            return "may exit"
        return None

    def callout(self, insn: Instruction) -> None:
        """An instruction a control could make exit is about to run: exit, or let it run."""
        v, m = self.vmcs, self.machine
        mn = insn.mnemonic
        if mn == "cpuid":  # always exits (SDM 25.1.2)
            self.vm_exit(ExitReason.CPUID, insn.address, insn)
            return
        if mn == "mov" or mn in ("clts", "lmsw"):
            qual = cr_qualification(insn, lmsw_source(self.vcpu, insn))
            kind, cr = (qual >> 4) & 3, qual & 0xF
            reg = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")[(qual >> 8) & 7]
            if kind == 0:
                exits = v.cr_write_exits(cr, m.cpu.reg(reg))
                if not exits and cr in (0, 4):
                    self._masked_write(insn, cr, reg)
                    return
            elif kind == 1:
                exits = cr == 3 and v.control("CR3_STORE_EXITING")
                if not exits and cr in (0, 4):
                    self._shadowed_read(insn, cr, reg)
                    return
            elif kind == 2:
                exits = bool(v["CR0_GUEST_HOST_MASK"] & 0x8 and v["CR0_READ_SHADOW"] & 0x8)
            else:
                data = (qual >> 16) & 0xF
                new = (v["CR0_READ_SHADOW"] & ~0xE) | data
                exits = bool((new ^ v["CR0_READ_SHADOW"]) & v["CR0_GUEST_HOST_MASK"] & 0xF)
            if exits:
                self.vm_exit(ExitReason.CR_ACCESS, insn.address, insn, qual)
            return
        if mn == "smsw":
            self._shadowed_read(insn, 0, None)
        elif mn in ("rdmsr", "wrmsr"):
            if v.msr_exits(m.cpu.reg("ecx"), write=mn == "wrmsr"):
                reason = ExitReason.RDMSR if mn == "rdmsr" else ExitReason.WRMSR
                self.vm_exit(reason, insn.address, insn)
        elif mn == "invlpg" and v.control("INVLPG_EXITING"):
            self.vm_exit(ExitReason.INVLPG, insn.address, insn, operand_address(self.vcpu, insn))
        elif mn == "rdtsc" and v.control("RDTSC_EXITING"):
            self.vm_exit(ExitReason.RDTSC, insn.address, insn)

    # ------------------------------------------------------------------ MSRs, SYSENTER
    def msr_intercepted(self, msr: int, write: bool) -> bool:
        """Only the MSRs the MSR bitmap makes exit (SDM vol. 3, 25.1.3); others run natively."""
        return self.vmcs.msr_exits(msr, write=write)

    def sysenter_msr(self, index: int) -> int:
        """SYSENTER does not exit: it uses the guest's MSRs (the guest-state area), written
        natively or, where WRMSR exits, by the handler into the virtual MSRs."""
        return self.vcpu.virt.msrs.get(index, self.machine.cpu.msr(index)) & 0xFFFF_FFFF

    def sysenter_view(self) -> DeliveryView:
        return RealView(self.machine)  # the guest runs at its own ring 0 in VMX non-root

    def _masked_write(self, insn: Instruction, cr: int, reg: str) -> None:
        """MOV to CR0/CR4 that does not exit loads only the bits the guest owns: the bits set
        in the guest/host mask keep their value in the real register (SDM vol. 3, 25.3) — e.g.
        CR0.WP, which shadow page tables rely on."""
        m = self.machine
        mask = self.vmcs[f"CR{cr}_GUEST_HOST_MASK"]
        real = m.cpu.reg(f"cr{cr}")
        value = (m.cpu.reg(reg) & ~mask) | (real & mask)
        if value == m.cpu.reg(reg):
            return  # nothing the host owns would change: the instruction runs natively
        m.cpu.set_reg(f"cr{cr}", value)
        m.cpu.set_reg("eip", insn.address + insn.size)

    def _shadowed_read(self, insn: Instruction, cr: int, reg: str | None) -> None:
        """MOV from CR0/CR4 and SMSW never exit, but read the shadow for host-owned bits."""
        m = self.machine
        real = m.cpu.reg(f"cr{cr}")
        value = self.vmcs.cr_read_value(cr, real)
        if value == real:
            return  # nothing shadowed differs: the instruction runs natively
        if reg is None:  # SMSW: bits 15:0 (to a 32-bit register the core keeps bits 31:16)
            op = operands(insn)[0]
            value &= 0xFFFF
            if op.kind == "reg":
                reg = op.reg
                value |= self.vcpu.regs[reg] & 0xFFFF_0000 if op.size == 4 else 0
        if reg is None:
            m.memory.write(operand_address(self.vcpu, insn), value.to_bytes(2, "little"))
        else:
            self.vcpu.regs[reg] = value
        m.cpu.set_reg("eip", insn.address + insn.size)

    def _on_cpuid(self, uc, _: object) -> int:
        """CPUID in code the scanner did not see (a ring-3 task): it exits all the same.
        (Scanned CPUIDs exit from their exact-address callout instead: Unicorn's CPUID
        instruction hook leaves the lazily computed arithmetic flags stale.)"""
        m = self.machine
        eip = m.cpu.eip
        insn = decoder().decode(m.memory.read(eip, 2), eip)
        self._guard(eip, self.vm_exit, ExitReason.CPUID, eip, insn, 0, 0, 0, False, True)
        return 1

    def io(self, is_out: bool, port: int, size: int, value: int) -> int:
        m = self.machine
        if not m.io_permitted(port, size):  # the #GP comes before any VM exit (SDM 25.1.1)
            return m.refuse_io()
        if not self.vmcs.io_exits(port, size):
            return m.device_io(is_out, port, size, value)
        eip = m.cpu.eip
        insn = self._decode(eip)
        if insn is None:  # undecodable bytes the core ran anyway: to the device, as natively
            return m.device_io(is_out, port, size, value)
        self._io_value, self._io_result = value, None
        qual = io_qualification(insn, port, size, not is_out)
        also = None
        if qual >> 4 & 1:  # (string) INS/OUTS: the memory operand's linear address (SDM vol. 3C,
            # 27.2.1): ES:EDI for INS; DS:ESI (or its override) for OUTS
            if is_out:
                segment = next((o.segment for o in operands(insn) if o.kind == "mem"), "") or "ds"
                offset = m.cpu.reg("esi")
            else:
                segment, offset = "es", m.cpu.reg("edi")
            also = {"GUEST_LINEAR_ADDRESS": (self.vcpu.segment_base(segment) + offset)
                    & 0xFFFF_FFFF}
        self.vm_exit(ExitReason.IO_INSTRUCTION, eip, insn, qual, in_hook=True, also_saved=also)
        if is_out:
            return 0
        if self._io_result is not None:  # INS: the element goes to memory, not to EAX
            return self._io_result
        return m.cpu.reg("eax") & ((1 << (8 * size)) - 1)

    def hlt(self) -> None:
        """The guest executed HLT (the core stopped after it): exit if HLT exiting is on."""
        if self.vmcs.control("HLT_EXITING"):
            m = self.machine
            eip = m.cpu.eip - 1
            self.vm_exit(ExitReason.HLT, eip, decoder().decode(b"\xf4", eip))

    def interrupt(self, vector: int, error_code: int | None, software: bool) -> None:
        m, v = self.machine, self.vmcs
        if software:
            if vector in (3, 4) and v.exception_exits(vector):  # INT3/INTO: software exceptions
                eip = m.cpu.eip - 1
                self.vm_exit(ExitReason.EXCEPTION_NMI, eip, self._decode(eip),
                             intr=intr_info(vector, INTR_TYPE_SW_EXCEPTION))
            else:
                self._deliver(vector, None, True)  # INT n never exits: the guest's IDT
            return
        if vector >= 32:  # an external interrupt from the PIC
            if v.control("EXTERNAL_INTERRUPT_EXITING"):
                self.vm_exit(ExitReason.EXTERNAL_INTERRUPT, m.cpu.eip, None,
                             intr=intr_info(vector, INTR_TYPE_EXTERNAL))
            else:
                self._deliver(vector, None, False)
            return
        eip = m.clock.fault_eip if m.clock.fault_eip is not None else m.cpu.eip
        insn = self._decode(eip)
        if vector == 6 and insn is not None and insn.mnemonic in self.vmx_exits:
            # SDM 25.1.2: always (a VMX instruction in VMX non-root operation)
            info, qual = instruction_information(insn)
            self.vm_exit(ExitReason(self.vmx_exits[insn.mnemonic]), eip, insn, qual,
                         from_fault=True, also_saved={"VMX_INSTRUCTION_INFO": info})
            return
        if vector == 14 and self.pager is not None and self.pager.active is not None \
                and v.exception_exits(14):
            self._shadow_page_fault(error_code or 0)
            return
        if v.exception_exits(vector):
            has_code = error_code is not None
            self.vm_exit(ExitReason.EXCEPTION_NMI, eip, insn,
                         intr=intr_info(vector, INTR_TYPE_HW_EXCEPTION, has_code),
                         error_code=error_code or 0)
            return
        self._deliver(vector, error_code, False)

    # ------------------------------------------------------------------ monitor trap flag
    def _sync_mtf(self, on: bool | None = None) -> None:
        """MONITOR_TRAP_FLAG: a VM exit after every guest instruction (a per-instruction hook,
        installed only while the control is set; ``on``: False to remove it whatever the
        VMCS says)."""
        if on is None:
            on = self.vmcs.control("MONITOR_TRAP_FLAG")
        core = self.machine.core
        if on and self._mtf_hook is None:
            self._mtf_first = True
            self._mtf_hook = core.on_execute(self._on_mtf)
            core.flush()
        elif not on and self._mtf_hook is not None:
            core.remove_hook(self._mtf_hook)
            self._mtf_hook = None
            core.flush()

    def set_control(self, name: str, on: bool = True) -> None:
        """Change a VM-execution control now (takes effect at once, as after a VM entry)."""
        self.vmcs.set_control(name, on)
        self._sync_mtf()

    def _on_mtf(self, uc, address: int, size: int, _: object) -> None:
        if self._mtf_first:  # the trap comes *after* an instruction: not before the first
            self._mtf_first = False
            return
        self._guard(address, self.vm_exit, ExitReason.MONITOR_TRAP_FLAG, address, None)
