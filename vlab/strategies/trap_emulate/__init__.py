"""Trap-and-emulate with ring deprivileging: the classical VMM, and why x86 defeats it.

The monitor runs in ring 0 and the unmodified guest kernel in ring 1 (its user tasks stay in
ring 3). Every *privileged* instruction the kernel executes (CLI, STI, HLT, MOV CR, LGDT, LIDT,
LTR, RDMSR, WRMSR, INVLPG, IRET to what it believes is ring 0 ...) faults with #GP on the core;
the fault reaches the monitor as an Exit, and a handler emulates the instruction on the
*virtual* CPU. Port I/O traps too (CPL 1 > IOPL 0). Interrupts and exceptions the guest should
see are reflected into its own IDT with ``vcpu.inject``, and the timer is delivered only while
the *virtual* IF is set.

Popek and Goldberg (1974): this works if every sensitive instruction is privileged. On IA-32 it is
not (Robin & Irvine, 2000): PUSHF shows the real IF, POPF silently ignores IF at CPL 1, SMSW, SGDT,
SIDT, SLDT and STR show the monitor's registers, ``mov eax, cs`` shows CPL 1, LAR/LSL/VERR/VERW
judge the real descriptors. None of them trap, so this strategy runs the kernel, but not
faithfully: the holes are visible in its report, exactly where the kernel uses them.

Follow one trap, ``cli`` in the kernel, through the code:

1. the core raises #GP (CLI is privileged at CPL 1); the machine's hook (``vlab/hw/hooks.py``)
   hands it to :meth:`TrapAndEmulate.interrupt` below;
2. ``interrupt`` sees a #GP at the deprivileged kernel, and :meth:`~TrapAndEmulate.classify_fault`
   names the emulation it asks for (CLI → ``ExitReason.CLI``); the monitor builds the frozen
   :class:`~vlab.monitor.trace.Exit` and dispatches it (``vlab/monitor/dispatch.py``), which
   runs the handler from the table and checks that it advanced the guest;
3. the handler (``handle_cli`` in ``vlab/monitor/handlers.py``) clears the *virtual* IF and
   skips the instruction; the guest resumes after it, at CPL 1, still believing it is at 0.

How the kernel is made to believe it is in ring 0 (the shadow GDT, RPL-0 selectors the core sees
as RPL 1, the monitor's own IDT, TSS and CR0) is in :mod:`.rings`.
"""

from __future__ import annotations

from functools import lru_cache
from types import MappingProxyType
from typing import Mapping

from vlab.hw import paging
from vlab.hw.delivery import software_interrupt_start
from vlab.isa import Instruction, decoder, operands
from vlab.monitor.dispatch import cr_qualification, io_qualification
from vlab.monitor.handlers import lmsw_source
from vlab.monitor.trace import ExitReason
from vlab.strategies.trap_emulate.rings import DeprivilegedMonitor

KERNEL_CPL = 0  # what the kernel, really at CPL 1, believes its CPL is
FPU_BITS = 0xE  # CR0.MP, EM, TS
TSD = 1 << 2  # CR4.TSD

#: What a #GP at the deprivileged kernel asks the monitor to emulate, by instruction.
_GP_REASONS = {
    "cli": ExitReason.CLI, "sti": ExitReason.STI, "hlt": ExitReason.HLT,
    "clts": ExitReason.CR_ACCESS, "lmsw": ExitReason.CR_ACCESS,
    "lgdt": ExitReason.GDTR_IDTR_ACCESS, "lidt": ExitReason.GDTR_IDTR_ACCESS,
    "ltr": ExitReason.LDTR_TR_ACCESS, "lldt": ExitReason.LDTR_TR_ACCESS,
    "rdmsr": ExitReason.RDMSR, "rdpmc": ExitReason.RDPMC, "rdtsc": ExitReason.RDTSC,
    "wrmsr": ExitReason.WRMSR, "invlpg": ExitReason.INVLPG,
    "wbinvd": ExitReason.WBINVD, "invd": ExitReason.INVD, "iretd": ExitReason.IRET,
    "iret": ExitReason.IRET, "retf": ExitReason.FAR_TRANSFER, "ljmp": ExitReason.FAR_TRANSFER,
    "lcall": ExitReason.FAR_TRANSFER, "sysexit": ExitReason.PRIVILEGED_INSTRUCTION,
}


class TrapAndEmulate(DeprivilegedMonitor):
    """The classical VMM: every privileged instruction of the deprivileged kernel faults, and
    the monitor emulates it on the virtual CPU."""

    name = "trap_emulate"
    title = "trap-and-emulate (ring deprivileging)"

    def interrupts_enabled(self) -> bool:
        """Virtual in the deprivileged kernel (CLI/STI/POPF/IRET there are emulated), real in
        ring 3 (a user task's IF is the CPU's)."""
        if self.machine.cpu.cpl() == 3:
            return self.machine.cpu.real_if()
        return self.vcpu.virt.IF

    def page_fault_raised(self, address: int) -> None:
        self.vcpu.virt.CR2 = address

    # ------------------------------------------------------------------ paging (shadow tables)
    def control_registers_changed(self) -> None:
        """The guest turned paging on or off, or loaded CR3: the core follows with the shadow
        page tables (guest-virtual -> host-physical) for the guest's current directory."""
        cpu, virt = self.machine.cpu, self.vcpu.virt
        # the guest's MP, EM and TS are the real ones (its #NM and WAIT behave as it asked,
        # SDM vol. 3A, 2.5 and table 2-2); so is CR4.TSD (RDTSC at its ring 3, 2.5)
        fpu = virt.CR0 & FPU_BITS
        if self.follow_guest_paging():
            cpu.set_reg("cr0", self.REAL_CR0 | paging.PG | paging.WP | fpu)
        elif self.pager is not None:
            cpu.set_reg("cr0", self.REAL_CR0 | fpu)
        else:
            cpu.set_reg("cr0", (cpu.reg("cr0") & ~FPU_BITS) | fpu)
        cr4 = cpu.reg("cr4")
        if (cr4 ^ virt.CR4) & TSD:
            cpu.set_reg("cr4", cr4 ^ TSD)

    def guest_paging_registers(self) -> tuple[int, int, int]:
        virt = self.vcpu.virt
        return virt.CR0, virt.CR3, virt.CR4

    def page_fault(self, error_code: int) -> None:
        """A #PF under the shadow: hidden (the monitor fills the shadow and the guest retries),
        a page-table write (the shadows built from that frame are dropped), or true (the guest's
        own tables refuse the access: it gets the #PF, with CR2)."""
        eip, rec, detail = self.shadow_page_fault(error_code)
        if rec.kind == "true":
            self.vcpu.virt.CR2 = rec.linear
        elif rec.kind == "pt_write" and self.emulate_page_table_store(eip, rec):
            detail["emulated"] = True
        self.dispatch(self._exit(ExitReason.EXCEPTION_NMI, eip, self._decode(eip), detail=detail,
                                 instruction_bytes=False, cost="trap"))

    def guest_view(self) -> dict:
        v = self.vcpu
        return {"cpl": v.virt.CPL, "IF": v.effective_if(), **{k: v.virt.as_dict()[k] for k in
                ("CR0", "CR3", "GDTR", "IDTR", "TR", "LDTR", "IOPL")}}

    # ------------------------------------------------------------------ events
    def interrupt(self, vector: int, error_code: int | None, software: bool) -> None:
        m = self.machine
        if software:  # (INT3 and INTO are one byte, INT 3 and INT 4 two: the bytes tell)
            start = software_interrupt_start(m, vector)
            if start is None:
                start = m.cpu.eip - (1 if vector in (3, 4) else 2)
            insn = decoder().decode(m.memory.read(start, m.cpu.eip - start), start)
            self.dispatch(self._exit(ExitReason.SOFTWARE_INTERRUPT, start, insn,
                                     detail={"vector": vector}, instruction_bytes=False,
                                     cost="trap"))
            return
        if vector >= 32:
            self.dispatch(self._exit(ExitReason.EXTERNAL_INTERRUPT, m.cpu.eip, None,
                                     detail={"vector": vector}, cost="inject"))
            return
        if vector == 14 and self.pager is not None and self.pager.active is not None:
            self.page_fault(error_code or 0)
            return
        cpl = m.cpu.cpl()
        if vector in (10, 11, 12, 13) and cpl in (1, 2) and self._gdt_dirty and self.reshadowed():
            return  # the guest loaded a descriptor it wrote after LGDT: retry with it
        eip = m.clock.fault_eip
        if eip is None:
            eip = m.cpu.eip
        insn = self._decode(eip)
        if vector == 13 and cpl == 1 and insn is not None:  # (the kernel's privileged
            key = (eip, insn.raw)                           # instructions: the hot path)
            found = self._classified.get(key)
            if found is None:
                found = self._classified[key] = self.classify_fault(insn)
            reason, qual = found
            if reason is not None:
                self.dispatch(self._exit(reason, eip, insn, qual, detail=_gp(error_code),
                                         cost="trap", cpl=KERNEL_CPL), from_fault=True)
                return
        if vector == 13 and cpl == 2 and insn is not None and insn.mnemonic in ("cli", "sti") \
                and self.vcpu.virt.CPL <= self.vcpu.virt.IOPL:
            # the guest's ring 1 (really ring 2) may change IF when its IOPL allows (SDM vol.
            # 2A CLI/STI); every other privileged instruction faults there, as on hardware
            reason = ExitReason.CLI if insn.mnemonic == "cli" else ExitReason.STI
            self.dispatch(self._exit(reason, eip, insn, detail=_gp(error_code), cost="trap"),
                          from_fault=True)
            return
        if vector == 13 and cpl >= 2 and insn is not None and self._to_call_gate(insn, error_code):
            # the shadow GDT holds no gates: a user task's far CALL/JMP through one of the
            # guest's call gates faults, and the monitor does what the gate says
            self.dispatch(self._exit(ExitReason.FAR_TRANSFER, eip, insn, detail=_gp(error_code),
                                     cost="trap"), from_fault=True)
            return
        detail = {"vector": vector}
        if error_code is not None:
            detail["error_code"] = error_code
        self.dispatch(self._exit(ExitReason.EXCEPTION_NMI, eip, insn, detail=detail,
                                 instruction_bytes=False, cost="trap"))

    def _to_call_gate(self, insn: Instruction, error_code: int | None) -> bool:
        """Is this #GP a far JMP/CALL naming a call gate in the guest's GDT?"""
        if insn.mnemonic not in ("ljmp", "lcall") or not error_code:
            return False
        d = self.vcpu.guest_descriptor(error_code & 0xFFFC)
        return d is not None and (d[1] >> 8) & 0x1F == 0x0C

    def classify_fault(self, insn: Instruction) -> tuple[ExitReason | None, int]:
        """Which emulation a #GP at the deprivileged kernel asks for (None: a real fault)."""
        mn = insn.mnemonic
        if mn == "mov" and "dr" in insn.op_str and any(o.reg.startswith("dr") for o in operands(insn)):
            return ExitReason.DR_ACCESS, 0
        if mn == "mov" and "cr" in insn.op_str:
            return ExitReason.CR_ACCESS, cr_qualification(insn)
        if mn in ("clts", "lmsw"):
            return ExitReason.CR_ACCESS, cr_qualification(insn, lmsw_source(self.vcpu, insn))
        if mn in ("mov", "pop") and operands(insn) and operands(insn)[0].reg in (
                "ss", "ds", "es", "fs", "gs"):
            return ExitReason.SEGMENT_LOAD, 0
        return _GP_REASONS.get(mn), 0

    def io_exit_detail(self, insn: Instruction) -> Mapping:
        """What the kernel's I/O instruction gave the monitor: a #GP (CPL 1 > IOPL 0)."""
        return _gp(0)

    def io_permitted(self, port: int, size: int) -> bool:
        """The guest's rings 1-3: the guest's IOPL and TSS bitmap decide (SDM vol. 1, 19.5); its
        kernel's I/O comes to the monitor."""
        m, v = self.machine, self.vcpu
        if m.cpu.cpl() == 1:
            return True
        return m.io_permitted(port, size, v.virt.CPL, v.virt.IOPL, v.guest_tss_range())

    def io(self, is_out: bool, port: int, size: int, value: int) -> int:
        m, v = self.machine, self.vcpu
        if m.cpu.cpl() != 1 and not self.io_permitted(port, size):
            return m.refuse_io()
        if m.cpu.cpl() == 3:
            return m.device_io(is_out, port, size, value)
        eip = m.cpu.eip
        insn = self._decode(eip)
        if insn is None:  # bytes Capstone cannot decode (e.g. LOCK OUT): the core ran them; so
            return m.device_io(is_out, port, size, value)  # does the device, as natively
        detail = {"value": value, **self.io_exit_detail(insn)}
        exit_ = self._exit(ExitReason.IO_INSTRUCTION, eip, insn,
                           io_qualification(insn, port, size, not is_out), detail=detail,
                           cost=self.io_cost)
        v.in_io_hook, v.string_in_value = True, None
        try:
            self.dispatch(exit_)
        finally:
            v.in_io_hook = False
        if is_out:
            return 0
        if v.string_in_value is not None:  # INS: the element goes to memory, not to EAX
            return v.string_in_value
        return m.cpu.reg("eax") & ((1 << (8 * size)) - 1)


@lru_cache(maxsize=256)
def _gp(error_code: int | None) -> MappingProxyType:
    """What the hardware gave a software monitor: a #GP and its error code, nothing more. The
    monitor decodes the faulting instruction itself; the exit reason and qualification it files
    the trap under (CR_ACCESS, IO_INSTRUCTION ...) are vlab's, borrowed from VT-x so that the
    strategies compare, not something the CPU reported."""
    return MappingProxyType({"delivered": f"#GP({error_code or 0:#x})",
                             "decoded_by": "monitor"})  # (read only: exits share it)
