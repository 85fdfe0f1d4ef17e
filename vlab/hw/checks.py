"""The SDM's checks on the few instructions the core runs without them, made at those instructions.

Unicorn's core (QEMU's TCG, measured on Unicorn 2.1.4) carries out these instructions but skips
checks the SDM gives them, so a guest written from the SDM would see them succeed:

- MOV to CR0 with PG=1 and PE=0, or NW=1 and CD=0; MOV to CR4 setting a reserved bit: #GP(0)
  (SDM vol. 2A, MOV—Move to/from Control Registers; vol. 3A, 2.5);
- RDMSR/WRMSR of an MSR the processor does not implement: #GP(0) (vol. 2B, RDMSR, WRMSR);
- LTR with a null selector: #GP(0) (vol. 2A, LTR);
- RDPMC: the core always raises #UD (vol. 2B, RDPMC: counters 0 and 1 are valid, as on P6
  processors; at CPL > 0 with CR4.PCE clear, #GP(0));
- INS at CPL > IOPL without I/O permission: #GP(0) *before* the element is stored (vol. 1,
  19.5.2; the core's IN hook only runs after the store);
- SYSENTER: the core only steps over it (vol. 2B, SYSENTER: #GP(0) when IA32_SYSENTER_CS is null,
  else ring 0 at the MSRs' CS:EIP and SS:ESP);
- a far JMP, far CALL, far RET or IRET leaves the Accessed bit of the code segment it loads
  clear (vol. 3A, 3.4.5.1: the processor sets it whenever it loads a segment register).

The machine does not hook every instruction for this. Unicorn tells it each time the core has
translated a new block of guest code (``UC_HOOK_EDGE_GENERATED``, once per translation, not per
execution): the machine decodes that block, puts a hook on exactly the instructions above (a
code hook at one address costs nothing anywhere else), and has the core translate the block
again before it runs. Under a monitor the same hooks run; where a check depends on privilege
(the CPL, IOPL, the MSRs a guest kernel wrote) the monitor answers with the guest's virtual state.
"""

from __future__ import annotations

import re
import struct
from typing import TYPE_CHECKING

import unicorn

from vlab import layout
from vlab.errors import GuestFault, VlabError
from vlab.hw.segments import DATA_SEGMENTS
from vlab.isa import Instruction, decoder, operands

if TYPE_CHECKING:
    from vlab.hw.machine import Machine

# ------------------------------------------------------------------------ the SDM's facts
PE, ET, NW, CD, PG = 1, 1 << 4, 1 << 29, 1 << 30, 1 << 31

#: CR4 bits this processor supports (its CPUID, ``vlab.hw.core.bare_metal_cpuid``): VME, PVI,
#: TSD, DE, PSE, PAE, MCE, PGE, PCE, OSFXSR, OSXMMEXCPT, FSGSBASE, OSXSAVE, SMEP. Every other bit
#: is reserved: setting one is #GP(0) (SDM vol. 3A, 2.5 and vol. 2A, MOV CR). VMXE is reserved
#: too where the machine offers no VMX to its guests (CPUID.1:ECX.VMX = 0: all but native).
CR4_SUPPORTED = 0x7FF | (1 << 16) | (1 << 18) | (1 << 20)
VMXE = 1 << 13


def cr0_refused(value: int) -> str | None:
    """Why MOV to CR0 of ``value`` raises #GP(0) (None: it is accepted). Reserved bits of
    CR0[31:0] are ignored, not refused (SDM vol. 3A, 2.5)."""
    if value & PG and not value & PE:
        return "CR0.PG=1 with CR0.PE=0"
    if value & NW and not value & CD:
        return "CR0.NW=1 with CR0.CD=0"
    return None


def cr4_refused(value: int, vmx: bool = False) -> str | None:
    """Why MOV to CR4 of ``value`` raises #GP(0) (None: it is accepted); ``vmx``: the processor
    offers VMX, so VMXE (bit 13) may be set (SDM vol. 3C, 23.7)."""
    reserved = value & ~(CR4_SUPPORTED | (VMXE if vmx else 0)) & 0xFFFF_FFFF
    return f"reserved CR4 bits {reserved:#x}" if reserved else None


#: The MSRs this processor implements (SDM vol. 4, table 2-2, architectural MSRs, each present
#: when CPUID reports its feature): TSC, APIC base, BIOS update signature, MTRRs, SYSENTER,
#: machine check (global, bank 0-9), MISC_ENABLE, debug control, PAT, EFER (NX), the SYSCALL and
#: FS/GS base MSRs (long mode), TSC_AUX (RDTSCP).
IMPLEMENTED_MSRS = frozenset(
    [0x10, 0x17, 0x1B, 0x8B, 0xFE, 0x174, 0x175, 0x176, 0x179, 0x17A, 0x1A0, 0x1D9, 0x277, 0x2FF]
    + list(range(0x200, 0x210)) + [0x250, 0x258, 0x259] + list(range(0x268, 0x270))
    + list(range(0x400, 0x428))
    + [0xC000_0080, 0xC000_0081, 0xC000_0082, 0xC000_0083, 0xC000_0084,
       0xC000_0100, 0xC000_0101, 0xC000_0102, 0xC000_0103])

SYSENTER_CS, SYSENTER_ESP, SYSENTER_EIP = 0x174, 0x175, 0x176
PMC_COUNTERS = 2  # RDPMC's valid general-purpose counters (ECX 0 and 1, as on P6 processors)
PCE = 1 << 8  # CR4.PCE

_WATCHED = {"rdmsr", "wrmsr", "rdpmc", "sysenter", "ltr", "ljmp", "lcall", "retf", "iretd",
            "insb", "insw", "insd"}
_INS_SIZE = {"insb": 1, "insw": 2, "insd": 4}
DR7_GD, DR6_BD = 1 << 13, 1 << 13  # general detect, and DR6's bit saying it fired
_SEGMENT_DST = tuple(f"{seg}, " for seg in ("ss", *DATA_SEGMENTS))
_FAR_POINTER_LOADS = {"lds": "ds", "les": "es", "lfs": "fs", "lgs": "gs", "lss": "ss"}


#: Bytes any watched instruction contains: 0F 21/22/23/30/32/33/34/00 (MOV CR, MOV DR, WRMSR, RDMSR, RDPMC,
#: SYSENTER, LTR), EA/9A (far JMP/CALL), FF /3 or /5 (far indirect), CA/CB (RETF), CF (IRET),
#: 6C/6D (INS), 8E/17/1F/07/0F A1/0F A9 (MOV and POP to SS, DS, ES, FS, GS), C5/C4/0F B2/B4/B5
#: (LDS, LES, LSS, LFS, LGS). A block without any of them is not decoded at all.
_CANDIDATE = re.compile(rb"\x0f[\x21\x22\x23\x30\x32\x33\x34\x00\xa1\xa9\xb2\xb4\xb5]"
                        rb"|[\xea\x9a\xca\xcb\xcf\x6c\x6d\x8e\x1f\x07\x17\xc4\xc5]"
                        rb"|\xff[\x18-\x1f\x28-\x2f\x58-\x5f\x68-\x6f\x98-\x9f\xa8-\xaf]")


def watched(insn: Instruction) -> bool:
    """Does ``insn`` need a check the core would skip?"""
    mn = insn.mnemonic.split()[-1]  # (rep insb)
    if mn == "mov":
        return insn.op_str.startswith(("cr0", "cr4", "dr", *_SEGMENT_DST)) or ", dr" in insn.op_str
    if mn == "pop":
        return insn.op_str in ("ss", *DATA_SEGMENTS)
    return mn in _WATCHED or mn in _FAR_POINTER_LOADS


class Checks:
    """Finds the instructions above in each newly translated block and checks them as they run."""

    def __init__(self, machine: Machine):
        self._m = machine
        self._hooks: dict[int, int] = {}  # address -> code hook
        #: code -> its watched instructions (address, is it IRETD)
        self._scanned: dict[tuple[int, bytes], tuple[tuple[int, bool], ...]] = {}
        self._stale: list[tuple[int, int]] = []  # blocks to translate again after this slice
        blocks = machine.core.blocks
        if blocks is not None:  # the native counter learns every new or changed block before
            blocks.new_code = self._learnt  # it runs: no Python call per translation
        else:
            machine.core.uc.hook_add(unicorn.UC_HOOK_EDGE_GENERATED, self._translated)
        machine.slice_ended.connect(lambda _: self._drop_stale())

    def reset(self) -> None:
        """A new image: forget every hook (the core's translations are flushed anyway)."""
        for h in self._hooks.values():
            self._m.core.remove_hook(h)
        self._hooks.clear()
        self._stale.clear()

    @property
    def hooked(self) -> list[int]:
        """The addresses where the machine checks an instruction."""
        return sorted(self._hooks)

    def scan(self, address: int, size: int = 64) -> bool:
        """Hook the watched instructions of the code at [address, address + size) (the core's
        very first block is reported to no one); True if any hook is new."""
        if address >= layout.MONITOR_BASE:
            return False
        try:
            code = self._m.memory.code_bytes(address, size)
        except VlabError:
            return False
        if not _CANDIDATE.search(code):
            return False  # (most blocks: no byte that could start a watched instruction)
        key = (address, code)
        found = self._scanned.get(key)
        if found is None:  # (the same code translated again, as after a stop hook: known)
            found = tuple((i.address, i.mnemonic == "iretd")
                          for i in decoder().decode_many(code, address) if watched(i))
            if len(self._scanned) > 20_000:
                self._scanned.clear()
            self._scanned[key] = found
        new = False
        native = self._m.native_delivery
        for at, iretd in found:
            if at not in self._hooks:
                if iretd and native is not None:  # (checked in C where nothing is to be done)
                    self._hooks[at] = native.iret_hook(at, self._check)
                else:
                    self._hooks[at] = self._m.core.on_execute(self._check, at, at)
                new = True
        return new

    # ------------------------------------------------------------------ the core's callbacks
    def _translated(self, uc, block, previous, _) -> None:
        """The core has just translated the block at ``block.pc``; it has not run yet."""
        pc, size = block.pc, block.size
        try:
            if not self.scan(pc, size):
                return
        except Exception as e:  # never a crash of the process
            self._m.clock.fail(GuestFault(f"internal error while checking new code: {e!r}", pc))
            return
        # the block was translated without its new hooks: stop before it runs, translate again
        self._stale.append((pc, pc + size))
        self._m.clock.request_stop("resample")

    def _learnt(self, pc: int, size: int) -> bool:
        """The native counter learns the block at ``pc`` (new code, or changed): True if it
        must be translated again before it runs (it holds an instruction hooked just now)."""
        try:
            return self.scan(pc, size)
        except Exception as e:  # never a crash of the process
            self._m.clock.fail(GuestFault(f"internal error while checking new code: {e!r}", pc))
            return False

    def _drop_stale(self) -> None:
        for start, end in self._stale:
            self._m.core.forget_code(start, end)
        self._stale.clear()

    def _check(self, uc, address: int, size: int, _) -> None:
        m = self._m
        if m.cpu.eip != address:
            return  # a monitor's hook at the same instruction has already emulated it
        try:
            insn = m.memory.instruction(address)
            if insn is None or not watched(insn):
                return  # the code changed since it was scanned
            mn = insn.mnemonic.split()[-1]
            if mn == "pop" or mn in _FAR_POINTER_LOADS or (
                    mn == "mov" and insn.op_str.startswith(_SEGMENT_DST)):
                self._segment_load(insn, mn)
            elif mn == "mov" and "dr" in insn.op_str:
                self._mov_dr(insn)
            elif mn == "mov":
                self._mov_cr(insn)
            elif mn in ("rdmsr", "wrmsr"):
                if not m.monitor.msr_intercepted(m.cpu.reg("ecx"), mn == "wrmsr"):
                    self._msr(insn)
            elif mn == "rdpmc":
                self._rdpmc(insn)
            elif mn == "sysenter":
                m.monitor.sysenter(insn)
            elif mn == "ltr":
                self._ltr(insn)
            elif mn in _INS_SIZE:
                if not m.monitor.io_permitted(m.cpu.reg("edx") & 0xFFFF, _INS_SIZE[mn]):
                    self._fault(13, 0)
            else:
                self._far_transfer(insn, mn)
        except VlabError as e:
            m.clock.fail(e)
        except Exception as e:  # a bug here must not kill the process
            m.clock.fail(GuestFault(f"internal error while checking {e!r}", address))

    # ------------------------------------------------------------------ the checks
    def _fault(self, vector: int, error_code: int | None) -> None:
        """The instruction faults instead of running (delivered once this hook returns)."""
        self._m.clock.defer_fault(vector, error_code)

    def _segment_load(self, insn: Instruction, mn: str) -> None:
        """MOV/POP to SS, DS, ES, FS or GS: loading a null selector (but into SS) or a segment
        narrower than 4 GiB is allowed, but the accesses through it must then be checked
        (:mod:`vlab.hw.segments`)."""
        m = self._m
        if m.segments.armed:
            return
        seg = _FAR_POINTER_LOADS.get(mn) or insn.op_str[:2]
        if mn == "pop":
            value = struct.unpack("<H", m.memory.peek(m.cpu.reg("esp"), 2))[0]
        elif mn in _FAR_POINTER_LOADS:  # the selector follows the offset (m16:32)
            src = operands(insn)[1]
            value = struct.unpack("<H", m.memory.peek(m.cpu.operand_offset(src) + 4, 2))[0]
        else:
            src = operands(insn)[1]
            if src.kind == "reg":
                value = self._m.cpu.gpr(src.reg)
            else:
                value = struct.unpack("<H", m.memory.peek(m.cpu.operand_offset(src), 2))[0]
        null = value & 0xFFFC == 0
        if (null and seg != "ss") or (not null and m.segments.narrow(value, True)):
            m.segments.coming(before=True)

    def _mov_dr(self, insn: Instruction) -> None:
        """MOV to DR0-DR3 or DR7 at ring 0: the core arms instruction breakpoints itself, the
        machine watches the data breakpoints (:mod:`vlab.hw.watch`)."""
        cpu = self._m.cpu
        if cpu.cpl() != 0:
            return  # the core raises #GP(0) itself (and a monitor emulates)
        dr7 = cpu.reg("dr7")
        if dr7 & DR7_GD:  # general detect (SDM vol. 3B, 18.2.4): any MOV DR is a #DB fault, with
            cpu.set_reg("dr6", cpu.reg("dr6") | DR6_BD)  # DR6.BD set and GD cleared for the
            cpu.set_reg("dr7", dr7 & ~DR7_GD)  # handler (which may then use them)
            self._fault(1, None)
            return
        dst, src = operands(insn)
        if dst.reg.startswith("dr") and dst.reg[2:] in "01237":
            self._m.watch_debug_registers((dst.reg, self._m.cpu.gpr(src.reg)))

    def _mov_cr(self, insn: Instruction) -> None:
        if self._m.cpu.cpl() != 0:
            return  # the core raises #GP(0) itself (and a monitor emulates)
        dst, src = operands(insn)
        value = self._m.cpu.gpr(src.reg)
        vmx = self._m.vmx
        why = cr0_refused(value) if dst.reg == "cr0" else cr4_refused(value, vmx is not None)
        if not why and vmx is not None:
            why = vmx.cr_refused(int(dst.reg[2:]), value)
        if why:
            self._fault(13, 0)

    def _msr(self, insn: Instruction) -> None:
        cpu = self._m.cpu
        if cpu.cpl() != 0:
            return  # the core raises #GP(0) itself (and a monitor emulates)
        index, vmx = cpu.reg("ecx"), self._m.vmx
        if vmx is not None:  # the VMX MSRs (SDM vol. 3D, appendix A), which the core lacks
            if insn.mnemonic == "rdmsr":
                value = vmx.rdmsr(index)
                if value is not None:
                    cpu.set_reg("eax", value & 0xFFFF_FFFF)
                    cpu.set_reg("edx", value >> 32)
                    cpu.set_reg("eip", insn.address + insn.size)
                    return
            else:
                done = vmx.wrmsr(index, cpu.reg("edx") << 32 | cpu.reg("eax"))
                if done is not None:
                    if done:
                        cpu.set_reg("eip", insn.address + insn.size)
                    else:
                        self._fault(13, 0)
                    return
        if index not in IMPLEMENTED_MSRS:
            self._fault(13, 0)

    def _rdpmc(self, insn: Instruction) -> None:
        """RDPMC as the SDM gives it (the core raises #UD for it): counters are not modelled
        and read 0."""
        cpu = self._m.cpu
        if cpu.cpl() != 0 and not cpu.reg("cr4") & PCE:
            return self._fault(13, 0)
        if cpu.reg("ecx") >= PMC_COUNTERS:
            return self._fault(13, 0)
        cpu.set_reg("eax", 0)
        cpu.set_reg("edx", 0)
        cpu.set_reg("eip", insn.address + insn.size)

    def _ltr(self, insn: Instruction) -> None:
        m = self._m
        if m.cpu.cpl() != 0:
            return
        (op,) = operands(insn)
        if op.kind == "reg":
            selector = self._m.cpu.gpr(op.reg) & 0xFFFF
        else:
            selector = struct.unpack("<H", m.memory.read_linear(m.cpu.operand_offset(op), 2))[0]
        if selector & 0xFFFC == 0:
            self._fault(13, 0)

    def _far_transfer(self, insn: Instruction, mn: str) -> None:
        """Set the Accessed bit of the code (and stack) segment a far transfer will load."""
        m = self._m
        cpu = m.cpu
        esp = cpu.reg("esp")
        stack = None
        if mn in ("ljmp", "lcall"):
            ops = operands(insn)
            if len(ops) == 2 and ops[0].kind == "imm":
                selector = ops[0].value & 0xFFFF
            elif len(ops) == 1 and ops[0].kind == "mem":
                selector = struct.unpack("<H", m.memory.peek(m.cpu.operand_offset(ops[0]) + 4, 2))[0]
            else:
                return
            outward = False
        elif mn == "retf":
            selector = struct.unpack("<I", m.memory.peek(esp + 4, 4))[0] & 0xFFFF
            outward = selector & 3 > cpu.cpl()
            if outward:
                ops = operands(insn)
                pop = ops[0].value if ops else 0
                stack = struct.unpack("<I", m.memory.peek(esp + 12 + pop, 4))[0] & 0xFFFF
        else:  # iretd
            words = struct.unpack("<5I", m.memory.peek(esp, 20))
            if words[2] & (1 << 17) or words[2] & (1 << 14):
                return  # to virtual-8086 mode, or a task return (NT): not a plain far return
            selector = words[1] & 0xFFFF
            outward = selector & 3 > cpu.cpl()
            if outward:
                stack = words[4] & 0xFFFF
        checks = m.segments
        if outward and not checks.armed and (checks.nulled_by_return(selector & 3) or (
                stack is not None and checks.narrow(stack, fresh=True))):
            checks.coming(before=True)
        self._mark_accessed(selector, code=True, rpl_rule=mn in ("retf", "iretd") or outward)
        if stack is not None:
            self._mark_accessed(stack, code=False, rpl_rule=True)

    def _mark_accessed(self, selector: int, code: bool, rpl_rule: bool) -> None:
        """Set the Accessed bit of a GDT descriptor the transfer will load, if it will load it
        (a present segment of the right kind and privilege; otherwise the core faults first)."""
        cpu = self._m.cpu
        d = cpu.descriptor(selector)
        if d is None:
            return
        hi = d[1]
        if not hi & (1 << 15) or not hi & (1 << 12) or hi & (1 << 8):
            return  # not present, a system descriptor (a gate), or already accessed
        if bool(hi & (1 << 11)) != code:
            return
        dpl, rpl, cpl = (hi >> 13) & 3, selector & 3, cpu.cpl()
        if code:
            conforming = bool(hi & (1 << 10))
            ring = rpl if rpl_rule else cpl
            if (conforming and dpl > ring) or (not conforming and dpl != ring) or \
                    (not rpl_rule and rpl > cpl):
                return
        elif dpl != rpl:
            return
        base, _ = cpu.gdtr()
        address = base + (selector & 0xFFF8)
        self._m.memory.write_linear(address + 5, bytes([(hi >> 8) & 0xFF | 1]))
        self._m.monitor.descriptor_accessed(address)
