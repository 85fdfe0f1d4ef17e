"""Memory virtualization under VT-x: EPT (the guest's own page tables, a second table below
them), or — as on first-generation hardware — shadow page tables kept by the monitor.

With EPT, CR3 loads and guest page faults stay in the guest; an access to a guest-physical page the
EPT does not map exits with reason 48 (EPT violation) and the SDM's qualification. Without it, the
monitor intercepts CR3 and #PF and keeps shadow tables, as a software monitor does.
"""

from __future__ import annotations

from vlab.errors import GuestFault, HandlerError, VlabError
from vlab.hw import paging
from vlab.hw.vmcs import INTR_TYPE_HW_EXCEPTION, intr_info
from vlab.isa import Instruction, operands
from vlab.monitor.handlers import operand_address
from vlab.monitor.trace import ExitReason
from vlab.strategies.vtx.ept import decode_ept_qualification, ept_qualification


class VtxMemory:
    """The VT-x monitor's MMU (a part of :class:`~vlab.strategies.vtx.VtX`)."""

    def memory_summary(self) -> dict:
        out = super().memory_summary()
        if self.ept is not None:
            out.update({"EPT pages mapped": len(self.ept.present),
                        "EPT violations": self.ept.violations})
        return out

    def page_tables(self, limit: int = 24) -> dict[str, list[tuple[int, int, int]]]:
        out = super().page_tables(limit)
        if self.ept is not None:  # guest-physical -> host-physical, beside the guest's tables
            out["ept"] = [(g, p, h) for g, h, p in self.ept.entries()[:limit]]
        return out

    def mapped_frames(self, frame: int) -> bool:
        """Is guest frame ``frame`` in the core (with a lazy EPT, once touched)?"""
        return self.ept is None or frame in self.ept.present

    def _guest_crs(self) -> tuple[int, int, int]:
        """CR0, CR3, CR4 as the guest has them (with shadow paging the core runs with the
        shadow's root in CR3 and WP forced on in CR0)."""
        cr0, cr3, cr4 = self.machine.cpu.control_registers()  # (at every VM exit: one call)
        if self.ept_enabled:
            return cr0, cr3, cr4
        owned = paging.PG | paging.WP
        return (cr0 & ~owned) | (self._guest_cr0 & owned), self._guest_cr3, cr4

    def control_registers_changed(self) -> None:
        """Without EPT: load what the guest asked for, with the shadow page tables under it.
        (With EPT the core runs on the guest's own registers: nothing to follow.)"""
        if self.ept_enabled:
            return
        v, m = self.vmcs, self.machine
        self._guest_cr0, self._guest_cr3 = v["GUEST_CR0"], v["GUEST_CR3"]
        m.cpu.set_reg("cr4", v["GUEST_CR4"])
        if self.follow_guest_paging():
            m.cpu.set_reg("cr0", self._guest_cr0 | paging.WP)
        else:
            m.cpu.set_reg("cr0", self._guest_cr0)
            m.cpu.set_reg("cr3", self._guest_cr3)

    def guest_paging_registers(self) -> tuple[int, int, int]:
        return self._guest_cr0, self._guest_cr3, self.machine.cpu.reg("cr4")

    def _shadow_page_fault(self, error_code: int) -> None:
        """#PF with shadow paging (exception bitmap bit 14): a VM exit; the root-mode MMU
        classifies it first (the exit qualification is the faulting linear address)."""
        eip, rec, detail = self.shadow_page_fault(error_code)
        if rec.kind == "true":
            self._guest_cr2 = rec.linear
        else:
            self.machine.cpu.set_reg("cr2", self._guest_cr2)  # the guest never saw this one
        self.vm_exit(ExitReason.EXCEPTION_NMI, eip, self._decode(eip), qual=rec.linear,
                     intr=intr_info(14, INTR_TYPE_HW_EXCEPTION, True), error_code=rec.error_code,
                     detail=detail)

    def prepare_descriptor_read(self, linear: int, write: bool) -> None:
        """A descriptor the core is about to load: with EPT, its guest frame must be present
        (mapped now, as the exit the CPU would take during delivery would map it); without
        EPT, the shadow is filled."""
        if self.ept is None:
            super().prepare_descriptor_read(linear, write)
            return
        try:
            gpa = self.machine.memory.translate(linear, write, accessed=False)
        except VlabError:
            return  # the guest does not map it: the CPU reports that
        if 0 <= gpa < self.machine.memory.ram_size:
            self.ept.map(gpa)

    def _on_ept_violation(self, access: str, gpa: int) -> bool:
        """The guest touched a guest-physical page the EPT does not map: exit reason 48 with
        the qualification and the guest-physical (and linear) address (SDM vol. 3, 28.2.1).
        Runs while the core waits at the access; True once the handler has mapped the page."""
        m = self.machine
        eip = m.cpu.eip
        insn = self._decode(eip)
        linear = self._violation_linear(access, gpa, eip, insn)
        qual = ept_qualification(access, 0, linear_valid=linear is not None)
        self.ept.violations += 1
        self.vm_exit(ExitReason.EPT_VIOLATION, eip, insn, qual, in_hook=True,
                     detail={"gpa": gpa, "linear": linear, "access": access,
                             "decoded": decode_ept_qualification(qual)},
                     also_saved={"GUEST_PHYSICAL_ADDRESS": gpa,
                                 "GUEST_LINEAR_ADDRESS": linear or 0})
        if self.vcpu.advanced:
            raise HandlerError("the EPT-violation handler skipped the instruction: an EPT "
                               "violation is not an instruction to emulate, the guest retries "
                               "the access once the page is mapped (do not call skip())")
        if gpa >> 12 not in self.ept.present:
            raise GuestFault(f"EPT violation at guest-physical {gpa:#010x} ({access}): the "
                             "EPT-violation handler did not map the page, so the guest cannot "
                             "go on (map it with vcpu.ept.map(gpa))", eip)
        return True

    def _violation_linear(self, access: str, gpa: int, eip: int,
                          insn: Instruction | None) -> int | None:
        """The linear address whose translation is ``gpa`` (the VMCS's guest-linear address):
        the instruction's own bytes for a fetch, else its memory operands and stack."""
        m = self.machine
        if not m.memory.paging():
            return gpa
        candidates = [eip, eip + (insn.size - 1 if insn else 0)]
        if insn is not None and access != "fetch":
            for i, op in enumerate(operands(insn)):
                if op.kind == "mem":
                    try:
                        candidates.append(operand_address(self.vcpu, insn, i))
                    except (VlabError, IndexError, ValueError):
                        pass
            esp = m.cpu.reg("esp")
            candidates += [esp - 4, esp, m.cpu.reg("esi"), m.cpu.reg("edi")]
        for c in candidates:
            try:
                if m.memory.translate(c & 0xFFFF_FFFF, accessed=False) >> 12 == gpa >> 12:
                    return (c & 0xFFFF_F000) | (gpa & 0xFFF)
            except VlabError:
                continue
        return None
