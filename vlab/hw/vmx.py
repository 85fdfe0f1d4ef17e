"""VMX operation for the guest's own code: the processor's side of VT-x (Intel SDM vol. 3C,
chapters 23-30; section numbers of the 2016 edition, as in :mod:`vlab.hw.vmcs`).

Under the native strategy the machine offers its guest what a VT-x processor offers: CPUID.1:ECX.VMX
is 1, the IA32_VMX_* capability MSRs say which controls it supports, CR4.VMXE can be set, and the
VMX instructions work. Unicorn has none of them (each is #UD on the core), so when the core reports
that #UD the machine carries the instruction out here, with the SDM's pseudocode (vol. 3C, 30.3):
#UD, #GP(0), VMsucceed, VMfailInvalid (CF = 1) or VMfailValid (ZF = 1 and the VM-instruction error
number of 30.4 in the current VMCS).

A VMCS is vlab's one VMCS model (:class:`vlab.hw.vmcs.Vmcs`), kept per region address: the
format of a VMCS region is the processor's own (24.2), so software sees its contents only through
VMREAD and VMWRITE, as on hardware. VMLAUNCH and VMRESUME check the controls and the host state
(26.2.1, 26.2.2: VMfailValid 7 and 8), then the guest state (26.3.1: a failure is a VM exit with
reason 33 and bit 31 set), load the guest state, and hand non-root operation to the *driver* the
strategy gave: vlab's VT-x model, whose rules for what exits are the same as under the vtx
strategy (one VMCS model, two drivers). A VM exit comes back through :meth:`VmxUnit.exit_to_host`,
which loads the host state (27.5) and continues at HOST_RIP.

What vlab's model does not do (each refused or documented where it matters): a guest segment
register is loaded from the guest's GDT (its VMCS base, limit and access rights must agree with
the descriptor); EPT is checked for its format but guest-physical addresses are host-physical
ones (an identity EPT, as the course's hypervisor builds); no MSR-load/store areas, no VMCS
shadowing, no VPID, no preemption timer, no SMM.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Protocol

from vlab.errors import VlabError
from vlab.hw import delivery
from vlab.hw.paging import PageFault
from vlab.hw.vmcs import (
    ENABLE_EPT,
    FIELDS,
    NAMES,
    UNRESTRICTED_GUEST,
    Vmcs,
    field_of,
)
from vlab.isa import Instruction, operands

if TYPE_CHECKING:
    from vlab.hw.machine import Machine

INVALID_POINTER = (1 << 64) - 1  # the current-VMCS pointer when there is none
REVISION = 0x0000_0001  # this processor's VMCS revision identifier (IA32_VMX_BASIC bits 30:0)

# ---------------------------------------------------------------------------- MSRs (appendix A)
IA32_FEATURE_CONTROL = 0x3A
FEATURE_LOCK, FEATURE_VMXON_OUTSIDE_SMX = 1 << 0, 1 << 2
IA32_VMX_BASIC, IA32_VMX_PINBASED_CTLS, IA32_VMX_PROCBASED_CTLS = 0x480, 0x481, 0x482
IA32_VMX_EXIT_CTLS, IA32_VMX_ENTRY_CTLS, IA32_VMX_MISC = 0x483, 0x484, 0x485
IA32_VMX_CR0_FIXED0, IA32_VMX_CR0_FIXED1 = 0x486, 0x487
IA32_VMX_CR4_FIXED0, IA32_VMX_CR4_FIXED1 = 0x488, 0x489
IA32_VMX_VMCS_ENUM, IA32_VMX_PROCBASED_CTLS2, IA32_VMX_EPT_VPID_CAP = 0x48A, 0x48B, 0x48C
IA32_VMX_TRUE_PINBASED_CTLS, IA32_VMX_TRUE_PROCBASED_CTLS = 0x48D, 0x48E
IA32_VMX_TRUE_EXIT_CTLS, IA32_VMX_TRUE_ENTRY_CTLS = 0x48F, 0x490

CR0_FIXED0 = 0x8000_0021  # PE, NE, PG must be 1 in VMX operation (A.7)
CR4_VMXE = 1 << 13
CR0_PE, CR0_PG = 1, 1 << 31


def _ctls(must_be_1: int, may_be_1: int) -> int:
    """A control capability MSR: allowed 0-settings (bits that must be 1) in bits 31:0, allowed
    1-settings in bits 63:32 (A.3)."""
    return (must_be_1 | may_be_1) << 32 | must_be_1


# The controls vlab's VT-x model acts on (vlab.hw.vmcs.CONTROL_BITS), as capabilities. Bits the
# SDM makes "default1" must be 1 in the plain MSRs; the TRUE MSRs let CR3-load/store exiting and
# "save debug controls" / "load debug controls" be 0 (A.2, A.3.2, A.4, A.5).
_PIN_DEFAULT1 = 0x16
_PROC_DEFAULT1 = 0x0401_E172
_EXIT_DEFAULT1 = 0x0003_6DFF
_ENTRY_DEFAULT1 = 0x0000_11FF
_PIN_MAY = 1 << 0  # external-interrupt exiting
_PROC_MAY = ((1 << 2) | (1 << 7) | (1 << 9) | (1 << 12) | (1 << 15) | (1 << 16) | (1 << 24)
             | (1 << 25) | (1 << 27) | (1 << 28) | (1 << 31))
_PROC2_MAY = ENABLE_EPT | UNRESTRICTED_GUEST
# "host address-space size" (exit, bit 9) and "IA-32e mode guest" (entry, bit 9) may be 1, as on
# every Intel 64 processor; outside IA-32e mode the host- and guest-state checks refuse them
_ADDRESS_SPACE = 1 << 9
_EXIT_MAY = 1 << 15 | _ADDRESS_SPACE  # acknowledge interrupt on exit
_ENTRY_MAY = _ADDRESS_SPACE
_CR3_EXITING = (1 << 15) | (1 << 16)
_DEBUG_CONTROLS = 1 << 2

#: Which CR4 bits may be 1 in VMX operation: those the processor supports, and VMXE.
CR4_FIXED1_DEFAULT = 0x7FF | (1 << 16) | (1 << 18) | (1 << 20) | CR4_VMXE


def capability_msrs(cr4_supported: int) -> dict[int, int]:
    """The IA32_VMX_* MSRs of this processor (read-only; appendix A)."""
    enum = max((enc >> 1) & 0x1FF for enc in NAMES) << 1
    return {
        # revision, region size 4 KiB (44:32), addresses limited to 32 bits (48), write-back (53:50),
        # the TRUE capability MSRs exist (55)
        IA32_VMX_BASIC: REVISION | 0x1000 << 32 | 1 << 48 | 6 << 50 | 1 << 55,
        IA32_VMX_PINBASED_CTLS: _ctls(_PIN_DEFAULT1, _PIN_MAY),
        IA32_VMX_PROCBASED_CTLS: _ctls(_PROC_DEFAULT1, _PROC_MAY),
        IA32_VMX_EXIT_CTLS: _ctls(_EXIT_DEFAULT1, _EXIT_MAY),
        IA32_VMX_ENTRY_CTLS: _ctls(_ENTRY_DEFAULT1, _ENTRY_MAY),
        # activity state HLT supported (6), four CR3-target values (24:16)
        IA32_VMX_MISC: 1 << 6 | 4 << 16,
        IA32_VMX_CR0_FIXED0: CR0_FIXED0, IA32_VMX_CR0_FIXED1: 0xFFFF_FFFF,
        IA32_VMX_CR4_FIXED0: CR4_VMXE, IA32_VMX_CR4_FIXED1: cr4_supported | CR4_VMXE,
        IA32_VMX_VMCS_ENUM: enum,
        IA32_VMX_PROCBASED_CTLS2: _ctls(0, _PROC2_MAY),
        # page-walk length 4 (6), UC (8) and WB (14) paging-structure types, 2-MByte pages (16),
        # INVEPT (20) with its single-context (25) and all-context (26) types
        IA32_VMX_EPT_VPID_CAP: 1 << 6 | 1 << 8 | 1 << 14 | 1 << 16 | 1 << 20 | 1 << 25 | 1 << 26,
        IA32_VMX_TRUE_PINBASED_CTLS: _ctls(_PIN_DEFAULT1, _PIN_MAY),
        IA32_VMX_TRUE_PROCBASED_CTLS: _ctls(_PROC_DEFAULT1 & ~_CR3_EXITING, _PROC_MAY),
        IA32_VMX_TRUE_EXIT_CTLS: _ctls(_EXIT_DEFAULT1 & ~_DEBUG_CONTROLS, _EXIT_MAY),
        IA32_VMX_TRUE_ENTRY_CTLS: _ctls(_ENTRY_DEFAULT1 & ~_DEBUG_CONTROLS, _ENTRY_MAY),
    }


# ---------------------------------------------------------------------------- instructions
#: VM-instruction error numbers (30.4, table 30-1)
ERRORS = {
    1: "VMCALL executed in VMX root operation",
    2: "VMCLEAR with invalid physical address",
    3: "VMCLEAR with VMXON pointer",
    4: "VMLAUNCH with non-clear VMCS",
    5: "VMRESUME with non-launched VMCS",
    7: "VM entry with invalid control field(s)",
    8: "VM entry with invalid host-state field(s)",
    9: "VMPTRLD with invalid physical address",
    10: "VMPTRLD with VMXON pointer",
    11: "VMPTRLD with incorrect VMCS revision identifier",
    12: "VMREAD/VMWRITE from/to unsupported VMCS component",
    13: "VMWRITE to read-only VMCS component",
    15: "VMXON executed in VMX root operation",
    26: "VM entry with events blocked by MOV SS",
    28: "invalid operand to INVEPT/INVVPID",
}

#: The instructions of VMX (Capstone's mnemonics) and their basic exit reason in VMX non-root
#: operation (appendix C); INVEPT 50, INVVPID 53.
MNEMONICS = {"vmcall": 18, "vmclear": 19, "vmlaunch": 20, "vmptrld": 21, "vmptrst": 22,
             "vmread": 23, "vmresume": 24, "vmwrite": 25, "vmxoff": 26, "vmxon": 27,
             "invept": 50, "invvpid": 53}

_REGISTER = {"eax": 0, "ecx": 1, "edx": 2, "ebx": 3, "esp": 4, "ebp": 5, "esi": 6, "edi": 7}
_SEGMENT = {"es": 0, "cs": 1, "ss": 2, "ds": 3, "fs": 4, "gs": 5}
_SCALE = {1: 0, 2: 1, 4: 2, 8: 3}


def instruction_information(insn: Instruction) -> tuple[int, int]:
    """(VM-exit instruction information, exit qualification) of a VMX instruction that causes a
    VM exit (27.2.4, tables 27-12 to 27-14; 27.2.1: the qualification is the memory operand's
    displacement). Fields the SDM leaves undefined are 0."""
    mn, ops = insn.mnemonic, operands(insn)
    if mn in ("vmread", "vmwrite"):
        rm, reg = (ops[0], ops[1]) if mn == "vmread" else (ops[1], ops[0])
        info = _REGISTER[reg.reg] << 28  # reg2: the register holding the field's encoding
    elif mn in ("invept", "invvpid"):
        reg, rm = ops
        info = _REGISTER[reg.reg] << 28  # reg2: the type
    elif mn in ("vmclear", "vmptrld", "vmptrst", "vmxon") and ops:
        rm, info = ops[0], 0
    else:
        return 0, 0
    if rm.kind == "reg":
        return info | 1 << 10 | _REGISTER[rm.reg] << 3, 0
    segment = rm.segment or ("ss" if rm.base in ("esp", "ebp") else "ds")
    info |= 1 << 7 | _SEGMENT[segment] << 15  # a 32-bit address
    info |= (_SCALE[rm.scale] | _REGISTER[rm.index] << 18) if rm.index else 1 << 22
    info |= _REGISTER[rm.base] << 23 if rm.base else 1 << 27
    return info, rm.disp & 0xFFFF_FFFF


_ARITH_FLAGS = 0x8D5  # CF, PF, AF, ZF, SF, OF
_CF, _ZF = 1, 1 << 6
EXIT_REASON_INVALID_GUEST_STATE, EXIT_REASON_MSR_LOADING = 33, 34
ENTRY_FAILURE = 1 << 31
ACTIVE, HALTED = 0, 1  # guest activity states (24.4.2)


class GuestStateInvalid(Exception):
    """A VM entry failed after the checks of controls and host state (26.3, 26.4): a VM exit
    with ``reason`` (33: invalid guest state; 34: MSR loading) and bit 31 set."""

    def __init__(self, why: str, qualification: int = 0, reason: int = 33):
        super().__init__(why)
        self.qualification, self.reason = qualification, reason


class NonRootDriver(Protocol):
    """What runs the guest hypervisor's guest in VMX non-root operation (a strategy's VT-x
    model): it decides which events cause VM exits, and calls :meth:`VmxUnit.exit_to_host`."""

    def enter(self, vmcs: Vmcs) -> None:
        """VM entry has loaded the guest state from ``vmcs``: non-root operation begins (then
        the event to inject, if the VM-entry interruption-information field has one)."""

    def resume(self, vmcs: Vmcs | None) -> None:
        """A snapshot was restored: carry on in non-root operation with ``vmcs`` (None: in
        root operation)."""

    def failed_entry(self, vmcs: Vmcs, reason: int, qualification: int, why: str) -> None:
        """A VM entry failed after the checks of controls and host state (26.7): the guest
        hypervisor continues at HOST_RIP with ``reason`` (bit 31 set) in the exit reason."""


class VmxUnit:
    """The processor's VMX: capability MSRs, VMX operation, VMCS regions, VM entries and exits;
    ``driver`` runs non-root operation (set by the strategy that offers VMX)."""

    def __init__(self, machine: Machine, driver: NonRootDriver | None, cr4_supported: int,
                 modes: tuple[str, str] = ("root", "non-root")):
        self._m = machine
        #: what the CPU's VMX mode reads in this VMX's root and non-root operation (nested
        #: under vlab's VT-x model, its root operation is itself vlab's non-root)
        self.modes = modes
        self.root_monitor = machine.monitor  # what handles events in root operation
        self.driver = driver
        self.msrs = capability_msrs(cr4_supported)
        self.feature_control = FEATURE_LOCK | FEATURE_VMXON_OUTSIDE_SMX  # (as firmware leaves it)
        self.on = False  # in VMX operation (between VMXON and VMXOFF)
        self.non_root = False
        self.vmxon_pointer: int | None = None
        self.current = INVALID_POINTER
        self.regions: dict[int, Vmcs] = {}
        self.launched: set[int] = set()
        self.entries = self.exits = 0
        #: what the processor has read of the guest hypervisor's EPT: EPTP -> the guest RAM it
        #: leaves out (kept until INVEPT, as a processor caches EPT translations: 28.3)
        self._ept_walks: dict[int, tuple[tuple[int, int], ...]] = {}

    # ------------------------------------------------------------------ snapshots
    def save_state(self) -> tuple:
        regions = {a: v.save_state() for a, v in self.regions.items()}
        return (self.feature_control, self.on, self.non_root, self.vmxon_pointer, self.current,
                regions, set(self.launched), self.entries, self.exits)

    def load_state(self, state: tuple) -> None:
        (self.feature_control, self.on, self.non_root, self.vmxon_pointer, self.current,
         regions, launched, self.entries, self.exits) = state
        self.regions = {}
        for address, saved in regions.items():
            v = self._new_vmcs()
            v.load_state(saved)
            self.regions[address] = v
        self.launched = set(launched)
        if self.driver is not None:
            self.driver.resume(self.vmcs if self.non_root else None)

    @property
    def vmcs(self) -> Vmcs | None:
        """The current VMCS (None when the current-VMCS pointer is invalid)."""
        return self.regions.get(self.current)

    # ------------------------------------------------------------------ CPUID, MSRs, CRs
    def rdmsr(self, index: int) -> int | None:
        """RDMSR of a VMX MSR (None: not one of them)."""
        if index == IA32_FEATURE_CONTROL:
            return self.feature_control
        return self.msrs.get(index)

    def wrmsr(self, index: int, value: int) -> bool | None:
        """WRMSR of a VMX MSR: True if done, False if it is #GP(0) (a read-only capability MSR;
        IA32_FEATURE_CONTROL once locked, or with reserved bits), None: not one of them."""
        if index == IA32_FEATURE_CONTROL:
            if self.feature_control & FEATURE_LOCK or value & ~0x7:  # (bits 0-2 only: no SMX)
                return False
            self.feature_control = value & 0x7
            return True
        return False if index in self.msrs else None

    def cr_refused(self, cr: int, value: int) -> str | None:
        """In VMX operation the bits fixed to 1 may not be cleared (23.8): MOV to CR0/CR4 that
        would is #GP(0)."""
        if not self.on or self.non_root:
            return None
        fixed = {0: CR0_FIXED0, 4: CR4_VMXE}.get(cr, 0)
        missing = fixed & ~value
        return f"clears CR{cr} bits {missing:#x} fixed to 1 in VMX operation" if missing else None

    # ------------------------------------------------------------------ the instructions
    def execute(self) -> bool:
        """The core raised #UD at EIP: if the instruction is a VMX instruction, carry it out
        (VMsucceed/VMfail, or the fault the SDM gives it) and return True."""
        m = self._m
        eip = m.cpu.eip
        try:
            insn = m.memory.instruction(eip)
        except VlabError:
            return False
        if insn is None or insn.mnemonic not in MNEMONICS:
            return False
        mn = insn.mnemonic
        cpu = m.cpu
        if mn == "vmxon":
            if not cpu.reg("cr4") & CR4_VMXE:
                return False  # #UD (30.3 VMXON)
        elif not self.on or mn == "invvpid":
            return False  # #UD outside VMX operation (and no VPID here)
        if cpu.cpl() > 0:
            self._fault(13, 0)
            return True
        try:
            getattr(self, "_" + mn)(insn)
        except _Fault as f:
            self._fault(f.vector, f.error_code)
        except PageFault as pf:  # (a memory operand the guest's page tables refuse)
            cpu.set_reg("cr2", pf.address)
            self._fault(14, pf.error_code)
        return True

    def _fault(self, vector: int, error_code: int | None) -> None:
        delivery.deliver(self._m, vector, error_code)

    def _done(self, insn: Instruction, flags: int = 0, error: int | None = None) -> None:
        """The instruction completes: VMsucceed (``flags`` 0), VMfailInvalid (CF) or
        VMfailValid (ZF, ``error`` into the current VMCS); EIP after it (30.2)."""
        m = self._m
        eflags = m.cpu.reg("eflags")
        m.cpu.set_reg("eflags", (eflags & ~_ARITH_FLAGS) | flags)
        if error is not None:
            self.vmcs._store(FIELDS["VM_INSTRUCTION_ERROR"], error)  # noqa: SLF001 (the CPU's write)
        m.cpu.set_reg("eip", insn.address + insn.size)
        m.clock.retire()

    def _succeed(self, insn: Instruction) -> None:
        self._done(insn)

    def _fail(self, insn: Instruction, error: int) -> None:
        """VMfail(error): VMfailValid if there is a current VMCS, else VMfailInvalid."""
        if self.current == INVALID_POINTER:
            self._done(insn, _CF)
        else:
            self._done(insn, _ZF, error)

    def _fail_invalid(self, insn: Instruction) -> None:
        self._done(insn, _CF)

    def _m64(self, insn: Instruction) -> tuple[int, int]:
        """(linear address, value) of the 64-bit memory operand (a register operand is #UD)."""
        op = operands(insn)[0]
        if op.kind != "mem":
            raise _Fault(6)
        address = self._linear(op)
        return address, struct.unpack("<Q", self._m.memory.read_linear(address, 8))[0]

    def _linear(self, op) -> int:
        cpu = self._m.cpu
        segment = op.segment or ("ss" if op.base in ("esp", "ebp") else "ds")
        base = cpu.segment_base(cpu.reg(segment))
        return (base + cpu.operand_offset(op)) & 0xFFFF_FFFF

    def _region_revision(self, address: int) -> int:
        m = self._m
        if address + 4 > m.memory.ram_size:
            return 0xFFFF_FFFF  # no RAM there: reads as all ones
        return struct.unpack("<I", m.memory.read_physical(address, 4))[0]

    @staticmethod
    def _bad_address(address: int) -> bool:
        """Not 4-KByte aligned, or beyond the physical-address width (32 bits here: A.1)."""
        return bool(address & 0xFFF or address >> 32)

    def _vmxon(self, insn: Instruction) -> None:
        m = self._m
        if self.on:
            self._fail(insn, 15)
            return
        cr0, _, cr4 = m.cpu.control_registers()
        if (cr0 & CR0_FIXED0) != CR0_FIXED0 or not cr4 & CR4_VMXE \
                or (self.feature_control & (FEATURE_LOCK | FEATURE_VMXON_OUTSIDE_SMX)
                    != FEATURE_LOCK | FEATURE_VMXON_OUTSIDE_SMX):
            raise _Fault(13, 0)
        _, address = self._m64(insn)
        if self._bad_address(address) or self._region_revision(address) != REVISION:
            self._fail_invalid(insn)
            return
        self.on, self.vmxon_pointer, self.current = True, address, INVALID_POINTER
        m.cpu.vmx_mode = self.modes[0]
        self._succeed(insn)

    def _vmxoff(self, insn: Instruction) -> None:
        self.on, self.vmxon_pointer, self.current = False, None, INVALID_POINTER
        self._ept_walks.clear()
        if self.modes[0] == "root":
            self._m.cpu.vmx_mode = "off"
        self._succeed(insn)

    def _vmclear(self, insn: Instruction) -> None:
        _, address = self._m64(insn)
        if self._bad_address(address):
            self._fail(insn, 2)
        elif address == self.vmxon_pointer:
            self._fail(insn, 3)
        else:
            self.launched.discard(address)  # launch state "clear" (the data is kept: 24.11.3)
            if address == self.current:
                self.current = INVALID_POINTER
            self._succeed(insn)

    def _vmptrld(self, insn: Instruction) -> None:
        _, address = self._m64(insn)
        if self._bad_address(address):
            self._fail(insn, 9)
        elif address == self.vmxon_pointer:
            self._fail(insn, 10)
        elif self._region_revision(address) != REVISION:
            self._fail(insn, 11)
        else:
            self.current = address
            if address not in self.regions:
                self.regions[address] = self._new_vmcs()
            self._succeed(insn)

    def _new_vmcs(self) -> Vmcs:
        v = Vmcs()
        v.memory = self._m.memory.read_physical  # (its bitmaps are in the guest's memory)
        return v

    def _vmptrst(self, insn: Instruction) -> None:
        op = operands(insn)[0]
        if op.kind != "mem":
            raise _Fault(6)
        self._m.memory.write_linear(self._linear(op), struct.pack("<Q", self.current))
        self._succeed(insn)

    def _field(self, insn: Instruction, encoding: int) -> tuple[int, bool] | None:
        if self.current == INVALID_POINTER:
            self._fail_invalid(insn)
            return None
        found = field_of(encoding & 0xFFFF_FFFF)
        if found is None:
            self._fail(insn, 12)
        return found

    def _vmread(self, insn: Instruction) -> None:
        dst, src = operands(insn)  # VMREAD r/m32, r32
        found = self._field(insn, self._m.cpu.gpr(src.reg))
        if found is None:
            return
        value = self.vmcs.read_half(*found)
        if dst.kind == "reg":
            self._m.cpu.set_reg(dst.reg, value)
        else:
            self._m.memory.write_linear(self._linear(dst), struct.pack("<I", value))
        self._succeed(insn)

    def _vmwrite(self, insn: Instruction) -> None:
        dst, src = operands(insn)  # VMWRITE r32, r/m32
        found = self._field(insn, self._m.cpu.gpr(dst.reg))
        if found is None:
            return
        if (found[0] >> 10) & 3 == 1:  # a VM-exit information field (IA32_VMX_MISC bit 29 is 0)
            self._fail(insn, 13)
            return
        if src.kind == "reg":
            value = self._m.cpu.gpr(src.reg)
        else:
            value = struct.unpack("<I", self._m.memory.read_linear(self._linear(src), 4))[0]
        self.vmcs.write_half(found[0], found[1], value)
        self._succeed(insn)

    def _vmcall(self, insn: Instruction) -> None:
        self._fail(insn, 1)  # (no dual-monitor treatment of SMM)

    def _invept(self, insn: Instruction) -> None:
        """INVEPT: the type (1 single-context, 2 all-context) in the register operand; what the
        processor knows of the EPT is read again at the next VM entry (28.3.3.1)."""
        reg, desc = operands(insn)
        if desc.kind != "mem":
            raise _Fault(6)
        if self._m.cpu.gpr(reg.reg) not in (1, 2):
            self._fail(insn, 28)
            return
        self._ept_walks.clear()
        self._succeed(insn)

    # ------------------------------------------------------------------ EPT
    def ept_holes(self, v: Vmcs) -> tuple[tuple[int, int], ...]:
        """The guest-physical ranges of RAM the guest hypervisor's EPT does not map (its guest
        touching one is an EPT violation, 28.2.3), from the EPT paging structures (28.2.2: a
        4-level walk, 2-MByte and 1-GByte pages). vlab's model maps guest-physical to the same
        host-physical address, so the EPT must be the identity where it maps RAM; and an
        entry's permissions are all or nothing (any of R, W, X present maps the page)."""
        eptp = v.vmread("EPT_POINTER")
        holes = self._ept_walks.get(eptp)
        if holes is None:
            present: list[tuple[int, int]] = []
            self._walk_ept(eptp & ~0xFFF & 0xFFFF_FFFF, 3, 0, present)
            holes, at = [], 0
            for start, end in sorted(present):
                if start > at:
                    holes.append((at, start))
                at = max(at, end)
            if at < self._m.memory.ram_size:
                holes.append((at, self._m.memory.ram_size))
            holes = self._ept_walks[eptp] = tuple(holes)
        return holes

    def _walk_ept(self, table: int, level: int, base: int, out: list) -> None:
        """Add the RAM ranges the EPT table at ``table`` maps (``level`` 3: PML4 ... 0: PT;
        ``base`` the guest-physical address its first entry covers)."""
        m = self._m
        ram = m.memory.ram_size
        span = 1 << (12 + 9 * level)
        if table + 4096 > ram:
            raise VlabError(f"the EPT paging structure at {table:#x} is outside RAM: vlab's "
                            "model reads EPT structures from guest RAM")
        entries = struct.unpack("<512Q", m.memory.read_physical(table, 4096))
        for i, entry in enumerate(entries):
            gpa = base + i * span
            if gpa >= ram:
                break
            if not entry & 7:
                continue
            address = entry & 0x000F_FFFF_FFFF_F000
            if level == 0 or (level in (1, 2) and entry & 0x80):
                frame = address & ~(span - 1)
                if frame != gpa:
                    raise VlabError(
                        f"the guest hypervisor's EPT maps guest-physical {gpa:#x} to "
                        f"{frame:#x}: vlab's model of EPT keeps guest-physical addresses "
                        "host-physical (an identity EPT; SDM vol. 3C, 28.2)")
                out.append((gpa, min(gpa + span, ram)))
            elif level > 0:
                self._walk_ept(address, level - 1, gpa, out)

    def _vmlaunch(self, insn: Instruction) -> None:
        self._entry(insn, launch=True)

    def _vmresume(self, insn: Instruction) -> None:
        self._entry(insn, launch=False)

    # ------------------------------------------------------------------ VM entry
    def _entry(self, insn: Instruction, launch: bool) -> None:
        """VMLAUNCH / VMRESUME (30.3; checks of 26.1-26.3)."""
        if self.current == INVALID_POINTER:
            self._fail_invalid(insn)
            return
        if self._after_mov_ss(insn):
            self._fail(insn, 26)
            return
        if launch and self.current in self.launched:
            self._fail(insn, 4)
            return
        if not launch and self.current not in self.launched:
            self._fail(insn, 5)
            return
        v = self.vmcs
        why = control_problem(v, self.msrs)
        if why is not None:
            self._fail(insn, 7)
            v.entry_problem = why
            return
        why = host_problem(v, self.msrs)
        if why is not None:
            self._fail(insn, 8)
            v.entry_problem = why
            return
        m = self._m
        m.cpu.set_reg("eflags", m.cpu.reg("eflags") & ~_ARITH_FLAGS)
        m.clock.retire()  # (the instruction completes with the entry, failed or not)
        try:
            guest_problem(v, self.msrs, m)
            try:
                self._load_guest(v)
            except VlabError as e:  # (what the core refuses to load: as a failed check)
                raise GuestStateInvalid(f"the guest state cannot be loaded: {e}") from None
            self._load_msrs(v, "VM_ENTRY_MSR_LOAD")
        except GuestStateInvalid as e:
            v.entry_problem = str(e)
            self.exit_to_host(v, e.reason | ENTRY_FAILURE, e.qualification)
            self.driver.failed_entry(v, e.reason, e.qualification, str(e))
            return
        v.entry_problem = None
        self.launched.add(self.current)
        self.entries += 1
        self.non_root = True
        m.cpu.vmx_mode = self.modes[1]
        self.driver.enter(v)
        if v.vmread("GUEST_ACTIVITY_STATE") == HALTED:
            m.clock.halt()  # (until an event wakes the guest: 26.6.2)

    def _msr_area(self, v: Vmcs, name: str) -> list[tuple[int, int, int]]:
        """The entries of an MSR area (24.7.2, 24.8.2): (address, MSR index, value)."""
        m = self._m
        count, base = v.vmread(f"{name}_COUNT"), v.vmread(f"{name}_ADDR")
        out = []
        for i in range(min(count, 512)):
            address = base + 16 * i
            if address + 16 > m.memory.ram_size:  # (no RAM there: no MSR can come from it)
                out.append((address, 0xFFFF_FFFF, -1))
                continue
            index, reserved, value = struct.unpack("<IIQ", m.memory.read_physical(address, 16))
            out.append((address, index, value if not reserved else -1))
        return out

    def _load_msrs(self, v: Vmcs, name: str) -> None:
        """Load the MSRs of an MSR-load area (26.4 on entry, 27.6 on exit): an entry WRMSR would
        refuse fails the VM entry (reason 34, qualification: the entry's number)."""
        for number, (_, index, value) in enumerate(self._msr_area(v, name), 1):
            if value < 0 or not self._write_msr(index, value):
                raise GuestStateInvalid(f"{name} area entry {number}: MSR {index:#x} cannot be "
                                        "loaded (26.4)", qualification=number,
                                        reason=EXIT_REASON_MSR_LOADING)

    def _write_msr(self, index: int, value: int) -> bool:
        from vlab.hw.checks import IMPLEMENTED_MSRS

        # not loadable from an MSR area: FS/GS base, x2APIC, the SMM monitor control (26.4)
        if index in (0xC000_0100, 0xC000_0101, 0x9B) or 0x800 <= index <= 0x8FF:
            return False
        done = self.wrmsr(index, value)
        if done is not None:
            return done
        if index not in IMPLEMENTED_MSRS:
            return False
        self._m.core.uc.msr_write(index, value)
        return True

    def _store_msrs(self, v: Vmcs) -> None:
        """VM-exit MSR storing (27.4): each entry's value is the MSR's now."""
        m = self._m
        for address, index, _ in self._msr_area(v, "VM_EXIT_MSR_STORE"):
            if address + 16 > m.memory.ram_size:
                raise VlabError(f"VMX abort: the VM-exit MSR-store area entry at {address:#x} "
                                "is outside RAM (SDM vol. 3C, 27.4 and 27.7)")
            value = self.rdmsr(index)
            if value is None:
                value = m.core.uc.msr_read(index)
            m.memory.write_physical(address + 8, struct.pack("<Q", value & (1 << 64) - 1))

    def _after_mov_ss(self, insn: Instruction) -> bool:
        """Are events blocked by MOV SS (the instruction before was MOV SS or POP SS: 26.1,
        error 26)? vlab recognises it from the bytes just before: ``mov ss, r16`` (8E D0-D7,
        with or without 66) or ``pop ss`` (17) — the core keeps the blocking to itself."""
        try:
            before = self._m.memory.peek(insn.address - 3, 3)
        except VlabError:
            return False
        return before[2] == 0x17 or (before[1] == 0x8E and 0xD0 <= before[2] <= 0xD7)

    def _load_guest(self, v: Vmcs) -> None:
        """Load the guest-state area (26.3.2): control registers, descriptor-table registers,
        segment registers (from the guest's GDT, which the checks found agreeing), RSP, RIP,
        RFLAGS, the SYSENTER MSRs."""
        m = self._m
        cpu = m.cpu
        for cr in ("cr0", "cr3", "cr4"):
            cpu.set_reg(cr, v.vmread(f"GUEST_{cr.upper()}"))
        cpu.load_table_registers(
            gdtr=(v.vmread("GUEST_GDTR_BASE"), v.vmread("GUEST_GDTR_LIMIT")),
            idtr=(v.vmread("GUEST_IDTR_BASE"), v.vmread("GUEST_IDTR_LIMIT")),
            tr=(v.vmread("GUEST_TR_SELECTOR"), v.vmread("GUEST_TR_BASE"),
                v.vmread("GUEST_TR_LIMIT")),
            ldtr=(v.vmread("GUEST_LDTR_SELECTOR"), v.vmread("GUEST_LDTR_BASE"),
                  v.vmread("GUEST_LDTR_LIMIT")))
        for index, name in ((0x174, "GUEST_SYSENTER_CS"), (0x175, "GUEST_SYSENTER_ESP"),
                            (0x176, "GUEST_SYSENTER_EIP")):
            m.core.uc.msr_write(index, v.vmread(name))
        cpu.enter(v.vmread("GUEST_CS_SELECTOR"), v.vmread("GUEST_RIP"),
                  v.vmread("GUEST_SS_SELECTOR"), v.vmread("GUEST_RSP"), v.vmread("GUEST_RFLAGS"))
        for seg in ("ds", "es", "fs", "gs"):
            cpu.set_reg(seg, v.vmread(f"GUEST_{seg.upper()}_SELECTOR"))

    # ------------------------------------------------------------------ VM exit
    def exit_to_host(self, v: Vmcs, reason: int, qualification: int,
                     set_eip=None) -> None:
        """Load the host state (27.5) after the exit information and the guest state were saved
        in ``v`` (by the driver; a failed entry saves only the reason). ``set_eip``: how EIP
        may be set where the exit happened (inside an I/O hook it is deferred)."""
        try:
            self._load_host(v, reason, qualification, set_eip)
        except VlabError as e:
            if str(e).startswith("VMX abort"):
                raise
            raise VlabError(f"VMX abort: the host state cannot be loaded at a VM exit ({e}); "
                            "vlab loads the host's segment registers from the host's GDT "
                            "(SDM vol. 3C, 27.5 and 27.7)") from None

    def _load_host(self, v: Vmcs, reason: int, qualification: int, set_eip) -> None:
        m = self._m
        cpu = m.cpu
        if reason & ENTRY_FAILURE:
            v.save_at_exit({"VM_EXIT_REASON": reason, "EXIT_QUALIFICATION": qualification})
        else:
            self._store_msrs(v)
        # (the valid bit of the VM-entry interruption information is cleared by every exit: 24.8.3)
        v.save_at_exit({"VM_ENTRY_INTR_INFO_FIELD": v.vmread("VM_ENTRY_INTR_INFO_FIELD")
                        & ~(1 << 31)})
        self.non_root = False
        self.exits += 1
        cpu.vmx_mode = self.modes[0]
        for cr in ("cr0", "cr3", "cr4"):
            cpu.set_reg(cr, v.vmread(f"HOST_{cr.upper()}"))
        cpu.set_reg("dr7", 0x400)
        cpu.load_table_registers(
            gdtr=(v.vmread("HOST_GDTR_BASE"), 0xFFFF), idtr=(v.vmread("HOST_IDTR_BASE"), 0xFFFF),
            tr=(v.vmread("HOST_TR_SELECTOR"), v.vmread("HOST_TR_BASE"), 0x67),
            ldtr=(0, 0, 0))
        for index, name in ((0x174, "HOST_IA32_SYSENTER_CS"), (0x175, "HOST_IA32_SYSENTER_ESP"),
                            (0x176, "HOST_IA32_SYSENTER_EIP")):
            m.core.uc.msr_write(index, v.vmread(name))
        rip = v.vmread("HOST_RIP")
        cpu.enter(v.vmread("HOST_CS_SELECTOR"), rip if set_eip is None else cpu.eip,
                  v.vmread("HOST_SS_SELECTOR"), v.vmread("HOST_RSP"), 0x2)
        for seg in ("ds", "es", "fs", "gs"):
            cpu.set_reg(seg, v.vmread(f"HOST_{seg.upper()}_SELECTOR"))
        if set_eip is not None:
            set_eip(rip)
        m.monitor = self.root_monitor
        try:
            self._load_msrs(v, "VM_EXIT_MSR_LOAD")
        except GuestStateInvalid as e:  # (27.7: a VMX abort shuts the processor down)
            raise VlabError(f"VMX abort: {e} on a VM exit (SDM vol. 3C, 27.7)") from None


class _Fault(Exception):
    def __init__(self, vector: int, error_code: int | None = None):
        super().__init__(vector)
        self.vector, self.error_code = vector, error_code


# ---------------------------------------------------------------------------- entry checks
def _allowed(value: int, capability: int) -> bool:
    must, may = capability & 0xFFFF_FFFF, capability >> 32
    return value & must == must and not value & ~may & 0xFFFF_FFFF


def control_problem(v: Vmcs, msrs: dict[int, int]) -> str | None:
    """The first VM-execution, exit or entry control the processor does not allow (26.2.1),
    or None. (The TRUE capability MSRs decide, as IA32_VMX_BASIC bit 55 says they exist.)"""
    proc = v.vmread("CPU_BASED_VM_EXEC_CONTROL")
    secondary = v.vmread("SECONDARY_VM_EXEC_CONTROL") if proc & (1 << 31) else 0
    checks = (("PIN_BASED_VM_EXEC_CONTROL", IA32_VMX_TRUE_PINBASED_CTLS),
              ("CPU_BASED_VM_EXEC_CONTROL", IA32_VMX_TRUE_PROCBASED_CTLS),
              ("VM_EXIT_CONTROLS", IA32_VMX_TRUE_EXIT_CTLS),
              ("VM_ENTRY_CONTROLS", IA32_VMX_TRUE_ENTRY_CTLS))
    for name, msr in checks:
        if not _allowed(v.vmread(name), msrs[msr]):
            return f"{name} = {v.vmread(name):#x} is not allowed by MSR {msr:#x} (26.2.1.1)"
    if not _allowed(secondary, msrs[IA32_VMX_PROCBASED_CTLS2]):
        return f"SECONDARY_VM_EXEC_CONTROL = {secondary:#x} is not allowed (26.2.1.1)"
    if v.vmread("CR3_TARGET_COUNT") > 4:
        return "CR3_TARGET_COUNT is greater than 4 (26.2.1.1)"
    for bit, field in ((25, "IO_BITMAP_A"), (25, "IO_BITMAP_B"), (28, "MSR_BITMAP")):
        if proc & (1 << bit) and v.vmread(field) & 0xFFF:
            return f"{field} is not 4-KByte aligned (26.2.1.1)"
    for count, address in (("VM_EXIT_MSR_STORE_COUNT", "VM_EXIT_MSR_STORE_ADDR"),
                           ("VM_EXIT_MSR_LOAD_COUNT", "VM_EXIT_MSR_LOAD_ADDR"),
                           ("VM_ENTRY_MSR_LOAD_COUNT", "VM_ENTRY_MSR_LOAD_ADDR")):
        n, base = v.vmread(count), v.vmread(address)
        if n and base & 0xF:
            return f"{address} is not 16-byte aligned (26.2.1.2, 26.2.1.3)"
        if n and (base + 16 * n - 1) >> 32:
            return f"{address}: the area goes past the physical-address width (26.2.1.2)"
    if secondary & UNRESTRICTED_GUEST and not secondary & ENABLE_EPT:
        return "unrestricted guest without enable EPT (26.2.1.1)"
    if secondary & ENABLE_EPT:
        eptp = v.vmread("EPT_POINTER")
        if eptp & 7 not in (0, 6) or (eptp >> 3) & 7 != 3 or eptp & 0xF80 or eptp >> 32:
            return f"EPT_POINTER {eptp:#x}: memory type, walk length or reserved bits (26.2.1.1)"
    info = v.vmread("VM_ENTRY_INTR_INFO_FIELD")
    if info >> 31:
        kind, vector = (info >> 8) & 7, info & 0xFF
        if kind in (1, 7) or (kind == 2 and vector != 2) or (kind == 3 and vector > 31):
            return f"VM_ENTRY_INTR_INFO_FIELD {info:#x}: a type and vector not allowed (26.2.1.3)"
        if info & 0x7FFF_F000:
            return f"VM_ENTRY_INTR_INFO_FIELD {info:#x}: reserved bits 30:12 set (26.2.1.3)"
    return None


def host_problem(v: Vmcs, msrs: dict[int, int]) -> str | None:
    """The first host-state field that fails the checks of 26.2.2 and 26.2.3, or None."""
    cr0, cr4 = v.vmread("HOST_CR0"), v.vmread("HOST_CR4")
    if cr0 & CR0_FIXED0 != CR0_FIXED0:
        return f"HOST_CR0 {cr0:#x} clears a bit fixed to 1 in VMX operation (26.2.2)"
    if not cr4 & CR4_VMXE or cr4 & ~msrs[IA32_VMX_CR4_FIXED1] & 0xFFFF_FFFF:
        return f"HOST_CR4 {cr4:#x}: VMXE clear or an unsupported bit set (26.2.2)"
    for seg in ("ES", "CS", "SS", "DS", "FS", "GS", "TR"):
        if v.vmread(f"HOST_{seg}_SELECTOR") & 7:
            return f"HOST_{seg}_SELECTOR has RPL or TI set (26.2.3)"
    if v.vmread("HOST_CS_SELECTOR") == 0 or v.vmread("HOST_TR_SELECTOR") == 0:
        return "HOST_CS_SELECTOR or HOST_TR_SELECTOR is 0 (26.2.3)"
    if v.vmread("HOST_SS_SELECTOR") == 0:
        return "HOST_SS_SELECTOR is 0 with a 32-bit host (26.2.3)"
    if v.vmread("VM_EXIT_CONTROLS") & _ADDRESS_SPACE:
        return "host address-space size is 1 outside IA-32e mode (26.2.4)"
    return None


_AR_UNUSABLE = 1 << 16


def guest_problem(v: Vmcs, msrs: dict[int, int], m: Machine) -> None:
    """Raise :class:`GuestStateInvalid` at the first guest-state field that fails the checks of
    26.3.1 vlab makes (and vlab's own condition: segments agree with the guest's GDT)."""
    if v.vmread("VM_ENTRY_CONTROLS") & _ADDRESS_SPACE:
        raise GuestStateInvalid("IA-32e mode guest is 1 on a processor outside IA-32e mode, "
                                "with CR4.PAE clear (26.3.1.1)")
    unrestricted = bool(v.vmread("CPU_BASED_VM_EXEC_CONTROL") & (1 << 31)
                        and v.vmread("SECONDARY_VM_EXEC_CONTROL") & UNRESTRICTED_GUEST)
    cr0, cr4 = v.vmread("GUEST_CR0"), v.vmread("GUEST_CR4")
    fixed0 = CR0_FIXED0 & ~(CR0_PE | CR0_PG) if unrestricted else CR0_FIXED0
    if cr0 & fixed0 != fixed0:
        raise GuestStateInvalid(f"GUEST_CR0 {cr0:#x} clears a bit fixed to 1 (26.3.1.1)")
    if cr0 & CR0_PG and not cr0 & CR0_PE:
        raise GuestStateInvalid("GUEST_CR0 has PG set and PE clear (26.3.1.1)")
    if not cr4 & CR4_VMXE or cr4 & ~msrs[IA32_VMX_CR4_FIXED1] & 0xFFFF_FFFF:
        raise GuestStateInvalid(f"GUEST_CR4 {cr4:#x}: VMXE clear or an unsupported bit (26.3.1.1)")
    flags = v.vmread("GUEST_RFLAGS")
    if not flags & 2 or flags & 0xFFC0_8028:
        raise GuestStateInvalid(f"GUEST_RFLAGS {flags:#x}: bit 1 clear or a reserved bit set "
                                "(26.3.1.4)")
    activity = v.vmread("GUEST_ACTIVITY_STATE")
    if activity not in (ACTIVE, HALTED):
        raise GuestStateInvalid(f"GUEST_ACTIVITY_STATE {activity}: this processor supports "
                                "active (0) and HLT (1), IA32_VMX_MISC bit 6 (26.3.1.5)")
    if activity == HALTED and (v.vmread("GUEST_SS_AR_BYTES") >> 5) & 3:
        raise GuestStateInvalid("GUEST_ACTIVITY_STATE HLT with SS.DPL not 0 (26.3.1.5)")
    blocking = v.vmread("GUEST_INTERRUPTIBILITY_INFO")
    if blocking & ~0xF & 0xFFFF_FFFF or blocking & 3 == 3:
        raise GuestStateInvalid(f"GUEST_INTERRUPTIBILITY_INFO {blocking:#x}: reserved bits, or "
                                "blocking by STI and by MOV SS both set (26.3.1.5)")
    if blocking & 1 and not flags & (1 << 9):
        raise GuestStateInvalid("GUEST_INTERRUPTIBILITY_INFO: blocking by STI with RFLAGS.IF = "
                                "0 (26.3.1.5)")
    if blocking & 3 and activity == HALTED:
        raise GuestStateInvalid("GUEST_INTERRUPTIBILITY_INFO: blocking by STI or MOV SS with "
                                "the activity state HLT (26.3.1.5)")
    if blocking & 4:
        raise GuestStateInvalid("GUEST_INTERRUPTIBILITY_INFO: blocking by SMI outside SMM "
                                "(26.3.1.5)")
    info = v.vmread("VM_ENTRY_INTR_INFO_FIELD")
    if info >> 31 and (info >> 8) & 7 == 0 and not flags & (1 << 9):
        raise GuestStateInvalid("injecting an external interrupt with RFLAGS.IF = 0 "
                                "(26.3.1.4)")
    link = v.vmread("VMCS_LINK_POINTER")
    if link != INVALID_POINTER:
        revision = struct.unpack("<I", m.memory.read_physical(link, 4))[0] \
            if link + 4 <= m.memory.ram_size else 0xFFFF_FFFF
        if link & 0xFFF or link >> 32 or revision & 0x7FFF_FFFF != REVISION:
            raise GuestStateInvalid("VMCS_LINK_POINTER is not FFFFFFFF_FFFFFFFFH and not a "
                                    "4-KByte-aligned VMCS region of this revision (26.3.1.5)",
                                    qualification=4)
    tr_ar = v.vmread("GUEST_TR_AR_BYTES")
    if tr_ar & _AR_UNUSABLE or tr_ar & 0xF not in (3, 11) or not tr_ar & 0x80:
        raise GuestStateInvalid(f"GUEST_TR_AR_BYTES {tr_ar:#x}: TR must be a present, usable "
                                "busy TSS (26.3.1.2)")
    cs_ar = v.vmread("GUEST_CS_AR_BYTES")
    if cs_ar & _AR_UNUSABLE or not cs_ar & 0x80 or not cs_ar & 0x10 or not cs_ar & 0x8:
        raise GuestStateInvalid(f"GUEST_CS_AR_BYTES {cs_ar:#x}: CS must be a present, usable "
                                "code segment (26.3.1.2)")
    if not cr0 & CR0_PE:
        raise GuestStateInvalid("GUEST_CR0.PE = 0 (real mode): vlab's model runs protected-mode "
                                "guests only")
    _segments_agree(v, m, cr0)


def _segments_agree(v: Vmcs, m: Machine, cr0: int) -> None:
    """vlab loads a guest's segment registers from its GDT (Unicorn takes no hidden parts), so
    each usable one must be what its descriptor says (base and limit)."""
    from vlab.hw.cpu import descriptor_base, descriptor_limit

    base, limit = v.vmread("GUEST_GDTR_BASE"), v.vmread("GUEST_GDTR_LIMIT")
    for seg in ("CS", "SS", "DS", "ES", "FS", "GS"):
        selector = v.vmread(f"GUEST_{seg}_SELECTOR")
        if v.vmread(f"GUEST_{seg}_AR_BYTES") & _AR_UNUSABLE or selector & 0xFFFC == 0:
            continue
        index = selector & 0xFFF8
        if selector & 4 or index + 7 > limit:
            raise GuestStateInvalid(f"GUEST_{seg}_SELECTOR {selector:#06x} is outside the "
                                    "guest's GDT (vlab loads segments from it)")
        try:
            raw = m.memory.read_linear(base + index, 8, accessed=False) if cr0 & CR0_PG \
                else m.memory.read_physical(base + index, 8)
        except VlabError:
            raise GuestStateInvalid(f"GUEST_{seg}_SELECTOR {selector:#06x}: its descriptor "
                                    "cannot be read") from None
        d = struct.unpack("<II", raw)
        want = (descriptor_base(d), descriptor_limit(d))
        got = (v.vmread(f"GUEST_{seg}_BASE"), v.vmread(f"GUEST_{seg}_LIMIT"))
        if got != want:
            raise GuestStateInvalid(
                f"GUEST_{seg} base/limit {got[0]:#x}/{got[1]:#x} differ from the descriptor of "
                f"{selector:#06x} ({want[0]:#x}/{want[1]:#x}): vlab's model loads guest "
                "segment registers from the guest's GDT")
