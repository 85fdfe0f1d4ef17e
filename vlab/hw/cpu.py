"""The CPU: the one owner of the core's real registers, privilege level and descriptor tables.

Everything that reads or changes the *real* CPU state goes through :class:`Cpu`: general
registers, EIP, EFLAGS, CR0-CR4, segment selectors, GDTR/IDTR/TR, and the current privilege level
(the RPL of CS). What a guest *believes* about its CPU lives elsewhere (a monitor's
:class:`~vlab.monitor.vcpu.VirtualCpu`); what the core really has lives here, once.

Changing CPL is not a register write on Unicorn (measured: writing CS or SS cannot change it):
going outward takes a real IRETD (the monitor's trampoline), going inward leaves and re-enters
protected mode. :meth:`Cpu.enter` hides both behind one act, checked as the CPU checks a far
transfer.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import unicorn
from unicorn import x86_const as X

from vlab import layout
from vlab.errors import GuestFault, ProtectionFault, VlabError
from vlab.hw import paging
from vlab.state import IF, IOPL_MASK, CpuState, Eflags, TableRegister

if TYPE_CHECKING:
    from vlab.hw.machine import Machine

_STATE_REGS = [X.UC_X86_REG_EAX, X.UC_X86_REG_EBX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX,
               X.UC_X86_REG_ESI, X.UC_X86_REG_EDI, X.UC_X86_REG_EBP, X.UC_X86_REG_ESP,
               X.UC_X86_REG_EIP, X.UC_X86_REG_EFLAGS, X.UC_X86_REG_CR0, X.UC_X86_REG_CR2,
               X.UC_X86_REG_CR3, X.UC_X86_REG_CR4, X.UC_X86_REG_GDTR, X.UC_X86_REG_IDTR,
               X.UC_X86_REG_CS, X.UC_X86_REG_DS, X.UC_X86_REG_ES, X.UC_X86_REG_FS,
               X.UC_X86_REG_GS, X.UC_X86_REG_SS, X.UC_X86_REG_TR, X.UC_X86_REG_LDTR]
_TWO_DWORDS = struct.Struct("<II").unpack

REGISTER_IDS = {
    "eax": X.UC_X86_REG_EAX, "ebx": X.UC_X86_REG_EBX, "ecx": X.UC_X86_REG_ECX,
    "edx": X.UC_X86_REG_EDX, "esi": X.UC_X86_REG_ESI, "edi": X.UC_X86_REG_EDI,
    "ebp": X.UC_X86_REG_EBP, "esp": X.UC_X86_REG_ESP, "eip": X.UC_X86_REG_EIP,
    "eflags": X.UC_X86_REG_EFLAGS, "cr0": X.UC_X86_REG_CR0, "cr2": X.UC_X86_REG_CR2,
    "cr3": X.UC_X86_REG_CR3, "cr4": X.UC_X86_REG_CR4, "cs": X.UC_X86_REG_CS,
    "ds": X.UC_X86_REG_DS, "es": X.UC_X86_REG_ES, "fs": X.UC_X86_REG_FS,
    "gs": X.UC_X86_REG_GS, "ss": X.UC_X86_REG_SS,
    **{f"dr{n}": getattr(X, f"UC_X86_REG_DR{n}") for n in (0, 1, 2, 3, 6, 7)},
}
SEGMENT_NAMES = ("cs", "ds", "es", "fs", "gs", "ss")
_DATA_SEGMENTS = frozenset(("ds", "es", "fs", "gs"))
PE = 0x1


def descriptor_base(d: tuple[int, int]) -> int:
    """A segment descriptor's base (its two dwords; SDM vol. 3A, 3.4.5)."""
    lo, hi = d
    return (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF00_0000)


def descriptor_limit(d: tuple[int, int]) -> int:
    """A segment descriptor's limit in bytes (scaled to 4 KiB units when G is set)."""
    lo, hi = d
    limit = (hi & 0xF0000) | (lo & 0xFFFF)
    return (limit << 12) | 0xFFF if hi & (1 << 23) else limit


class Cpu:
    """The core's real CPU state, read and changed as the hardware allows."""

    def __init__(self, machine: Machine):
        self._m = machine
        self.uc = machine.core.uc
        self._fast = machine.core.registers
        self.cpl = self._fast.cpl  # (read at every trap: the register file's own, one call)
        self.exit_state = self._fast.exit_state  # (at every VM exit)
        self.control_registers = self._fast.control_registers
        if self._fast.code_base() is not None:  # (the loaded CS base, read in place)
            self.code_base = self._fast.code_base
        self.vmx_mode = "off"  # "off", "root" or "non-root" (the VT-x model sets it)
        self.monitor_ss = layout.KERNEL_DS  # a flat ring-0 data segment in the real GDT

    # ------------------------------------------------------------------ registers
    def reg(self, name: str) -> int:
        """A 32-bit register by name ("eax", "eip", "cr0", "cs" ...)."""
        return self._fast.read(REGISTER_IDS[name])

    def set_reg(self, name: str, value: int) -> None:
        """Write a register; a selector the CPU refuses is a :class:`ProtectionFault`."""
        if name in SEGMENT_NAMES and name != "cs" and self._checked_load(name, value):
            self._m.segments.coming(before=False)
        try:
            self._fast.write(REGISTER_IDS[name], value)
        except unicorn.UcError:
            if name in SEGMENT_NAMES:
                raise ProtectionFault(f"the CPU refuses to load {name.upper()} with "
                                      f"{value & 0xFFFF:#06x}", value) from None
            raise

    def gpr(self, name: str) -> int:
        """A general register by any of its names and widths (EAX, AX, AL, AH, SI ...)."""
        if len(name) == 3 and name[0] == "e":
            return self.reg(name)
        if name.endswith(("l", "h")) and name[0] in "abcd":
            value = self.reg(f"e{name[0]}x")
            return (value >> 8 if name[1] == "h" else value) & 0xFF
        return self.reg(f"e{name}") & 0xFFFF

    def operand_offset(self, op) -> int:
        """The offset in its segment of a decoded memory operand (base + index * scale + disp,
        as the registers hold them now)."""
        offset = op.disp
        if op.base:
            offset += self.gpr(op.base)
        if op.index:
            offset += self.gpr(op.index) * op.scale
        return offset & 0xFFFF_FFFF

    def _checked_load(self, name: str, value: int) -> bool:
        """Will loading ``value`` into segment register ``name`` need the machine's segment
        checks (:mod:`vlab.hw.segments`): a null data segment, or a narrow one?"""
        if name in _DATA_SEGMENTS and value & 0xFFFC == 0:
            return True
        return value & 0xFFFC != 0 and self._m.segments.narrow(value, fresh=True) is not None

    def msr(self, index: int) -> int:
        """A model-specific register as the core holds it."""
        return self.uc.msr_read(index)

    @property
    def eip(self) -> int:
        return self._fast.eip()

    def cpl(self) -> int:
        """The current privilege level: the RPL of CS in protected mode."""
        return self._fast.cpl()

    def real_if(self) -> bool:
        """EFLAGS.IF as the core has it."""
        return bool(self._fast.system_flags() & IF)

    def system_flags(self) -> int:
        """EFLAGS' system bits (IF, TF, IOPL ...) as the core has them; the arithmetic flags and
        DF read as 0 here (:meth:`reg` gives all of EFLAGS)."""
        return self._fast.system_flags()

    def idtr(self) -> tuple[int, int]:
        _, base, limit = self._fast.table(X.UC_X86_REG_IDTR)
        return base, limit

    def gdtr(self) -> tuple[int, int]:
        _, base, limit = self._fast.table(X.UC_X86_REG_GDTR)
        return base, limit

    def load_table_registers(self, *, gdtr: tuple[int, int] | None = None,
                             idtr: tuple[int, int] | None = None,
                             tr: tuple[int, int, int] | None = None,
                             ldtr: tuple[int, int, int] | None = None) -> None:
        """Load GDTR/IDTR (base, limit) and TR/LDTR (selector, base, limit) as a monitor does
        for the tables it really runs with."""
        uc = self.uc
        if gdtr is not None:
            uc.reg_write(X.UC_X86_REG_GDTR, (0, gdtr[0], gdtr[1], 0))
        if idtr is not None:
            uc.reg_write(X.UC_X86_REG_IDTR, (0, idtr[0], idtr[1], 0))
        if tr is not None:
            uc.reg_write(X.UC_X86_REG_TR, (tr[0], tr[1], tr[2], 0x8B00))  # busy 32-bit TSS
        if ldtr is not None:
            uc.reg_write(X.UC_X86_REG_LDTR, (ldtr[0], ldtr[1], ldtr[2], 0x8200))

    def control_registers(self) -> tuple[int, int, int]:
        """CR0, CR3 and CR4 as the core has them, in one call (bound to the register file's own
        in ``__init__``)."""
        return self._fast.control_registers()

    def exit_state(self) -> tuple[int, ...]:
        """What a VM exit saves of the CPU (beside EIP and the control registers): ESP, EFLAGS,
        the CS, DS, ES, FS, GS and SS selectors, GDTR and IDTR (base, limit), TR and LDTR
        (selector, base, limit), in that order (vlab.hw.vmcs.EXIT_SAVED)."""
        return self._fast.exit_state()

    def regs_for_delivery(self) -> dict[str, int]:
        """What an event delivery pushes: EFLAGS, ESP, CS, SS, EIP."""
        r = self._fast.read
        return {"eflags": r(X.UC_X86_REG_EFLAGS), "esp": r(X.UC_X86_REG_ESP),
                "cs": r(X.UC_X86_REG_CS), "ss": r(X.UC_X86_REG_SS), "eip": r(X.UC_X86_REG_EIP)}

    def state(self) -> CpuState:
        """The core's state as an immutable :class:`CpuState`."""
        v = self.uc.reg_read_batch(_STATE_REGS)
        gdtr, idtr, tr, ldtr = v[14], v[15], v[22], v[23]
        clock = self._m.clock
        return CpuState(
            eax=v[0], ebx=v[1], ecx=v[2], edx=v[3], esi=v[4], edi=v[5], ebp=v[6], esp=v[7],
            eip=v[8], eflags=Eflags.decode(v[9]), cpl=v[16] & 3, cr0=v[10], cr2=v[11],
            cr3=v[12], cr4=v[13], gdtr=TableRegister(gdtr[1], gdtr[2]),
            idtr=TableRegister(idtr[1], idtr[2]), cs=v[16], ds=v[17], es=v[18], fs=v[19],
            gs=v[20], ss=v[21], tr=tr[0], ldtr=ldtr[0], vmx_mode=self.vmx_mode,
            instructions=clock.instructions, vtime=clock.vtime)

    # ------------------------------------------------------------------ power-on state
    def power_on(self, gdt_limit: int) -> None:
        """The boot state every guest starts from: protected mode, flat ring-0 segments, the
        boot GDT and TSS, no IDT, interrupts off, ESP at the boot stack."""
        uc = self.uc
        uc.reg_write(X.UC_X86_REG_CR0, 0x10)  # leave protected mode (if a guest left us in it)
        uc.reg_write(X.UC_X86_REG_SS, 0)  # real-mode SS: CPL 0
        uc.reg_write(X.UC_X86_REG_GDTR, (0, layout.BOOT_GDT, gdt_limit, 0))
        uc.reg_write(X.UC_X86_REG_IDTR, (0, 0, 0, 0))
        uc.reg_write(X.UC_X86_REG_CR0, 0x11)  # PE | ET
        for reg in (X.UC_X86_REG_CR2, X.UC_X86_REG_CR3, X.UC_X86_REG_CR4):
            uc.reg_write(reg, 0)
        uc.reg_write(X.UC_X86_REG_CS, layout.KERNEL_CS)
        for reg in (X.UC_X86_REG_DS, X.UC_X86_REG_ES, X.UC_X86_REG_FS, X.UC_X86_REG_GS,
                    X.UC_X86_REG_SS):
            uc.reg_write(reg, layout.KERNEL_DS)
        # TR: the boot TSS, loaded as LTR would (busy 32-bit TSS, present).
        uc.reg_write(X.UC_X86_REG_TR, (layout.TSS_SELECTOR, layout.BOOT_TSS, 0x67, 0x8B00))
        uc.reg_write(X.UC_X86_REG_LDTR, (0, 0, 0, 0x8200))
        for reg in (X.UC_X86_REG_EAX, X.UC_X86_REG_EBX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX,
                    X.UC_X86_REG_ESI, X.UC_X86_REG_EDI, X.UC_X86_REG_EBP):
            uc.reg_write(reg, 0)
        uc.reg_write(X.UC_X86_REG_ESP, layout.BOOT_STACK)
        uc.reg_write(X.UC_X86_REG_EFLAGS, 0x2)
        uc.reg_write(X.UC_X86_REG_EIP, layout.ENTRY)
        self.vmx_mode = "off"
        self.monitor_ss = layout.KERNEL_DS

    # ------------------------------------------------------------------ descriptors
    def descriptor(self, selector: int) -> tuple[int, int] | None:
        """The two dwords of a GDT descriptor, or None past the limit / for the null selector."""
        index = selector & 0xFFF8
        if index == 0 or selector & 4:
            return None
        _, base, limit = self._fast.table(X.UC_X86_REG_GDTR)
        if index + 7 > limit:
            return None
        return _TWO_DWORDS(self._m.memory.read_linear(base + index, 8))

    def segment_base(self, selector: int) -> int:
        """The base of the GDT segment ``selector`` names (0 for none, null or an LDT one)."""
        d = self.descriptor(selector)
        return 0 if d is None else descriptor_base(d)

    def code_base(self) -> int:
        """The base of the code segment the CPU runs in now: the copy it loaded with CS (SDM
        vol. 3A, 3.4.3: the hidden part of a segment register), read from the GDT only if the
        CPU state is out of reach."""
        base = self._fast.code_base()
        return self.segment_base(self.reg("cs")) if base is None else base

    def code_segment_dpl(self, selector: int) -> int | None:
        """DPL of a present code segment, or None if ``selector`` names none."""
        d = self.descriptor(selector)
        if d is None:
            return None
        hi = d[1]
        if not hi & (1 << 15) or not hi & (1 << 12) or not hi & (1 << 11):
            return None
        return (hi >> 13) & 3

    def tss_range(self) -> tuple[int, int]:
        """Base and limit of the current TSS (the task register's hidden part)."""
        _, base, limit = self._fast.table(X.UC_X86_REG_TR)
        return base, limit

    def tss_stack(self, ring: int, checked: bool = True) -> tuple[int, int]:
        """SS:ESP for ``ring`` from the current TSS (SDM vol. 3, 7.2.1); ``checked``: a null SS
        is an error (else it is returned, for a delivery to check as the CPU does)."""
        _, base, _ = self._fast.table(X.UC_X86_REG_TR)
        esp, ss = struct.unpack("<II", self._m.memory.read_linear(base + 4 + 8 * ring, 8))
        if checked and ss & 0xFFFC == 0:
            clock = self._m.clock
            raise GuestFault(f"the TSS has no stack for ring {ring} (SS{ring} is null)",
                             clock.fault_eip, clock.fault_text)
        return ss & 0xFFFF, esp

    # ------------------------------------------------------------------ changing rings
    def enter(self, cs: int, eip: int, ss: int, esp: int, eflags: int) -> None:
        """Load CS:EIP, SS:ESP and EFLAGS, changing the CPL to ``cs & 3`` if needed.

        Unicorn refuses to load an inner-ring SS from Python, so going *inward* uses the one way
        that works (measured on Unicorn 2.1): leave protected mode, load SS = 0 (CPL becomes 0), re-enter it.
        Going *outward* is done as the CPU allows it: an IRETD in the monitor's trampoline.
        """
        target, cpl = cs & 3, self.cpl()
        why = self._check_target(cs, ss, target)
        if why:  # the CPU would raise #GP(selector) and change nothing
            raise ProtectionFault(f"a transfer to {cs:#06x}:{eip:#010x} with stack {ss:#06x} is "
                                  f"not allowed: {why}", cs if "code" in why else ss)
        self._descriptors_reachable(cs, ss)
        checks = self._m.segments
        if (target > cpl and checks.nulled_by_return(target)) or checks.narrow(ss):
            checks.coming(before=False)  # (a segment the machine must check from now on)
        try:
            self._enter(cs, eip, ss, esp, eflags, target, cpl)
        except unicorn.UcError as e:
            raise ProtectionFault(f"the CPU refused a transfer to {cs:#06x}:{eip:#010x}: {e}",
                                  cs) from None
        self._m.clock.note_cpl()

    def _descriptors_reachable(self, *selectors: int) -> None:
        """Loading these selectors makes the core read their descriptors (and set their Accessed
        bits) through the page tables it really uses. A #PF or an absent frame there cannot be
        taken inside vlab's register write (Unicorn would re-enter its own hooks and die), so the
        monitor first fills what the guest maps (its shadow, its EPT), and a descriptor nobody
        maps stops the guest with the fault the CPU would have met."""
        if not self.reg("cr0") & paging.PG:
            return
        base, pse = self.gdtr()[0], bool(self.reg("cr4") & paging.PSE)
        for selector in selectors:
            linear = (base + (selector & 0xFFF8)) & 0xFFFF_FFFF
            d = self.descriptor(selector)
            self._m.monitor.prepare_descriptor_read(linear, d is not None and not d[1] & (1 << 8))
            cr3 = self.reg("cr3")  # (after: a shadow pager may have rebuilt its directory)
            for address in (linear, linear + 7):
                w = paging.walk(self._core_u32, cr3, address, wp=False, pse=pse)
                if not w.ok or self._core_u32(w.physical & ~3, present=True) is None:
                    raise GuestFault(f"the descriptor of selector {selector:#06x} (at linear "
                                     f"{address:#010x}) is not mapped: the CPU would raise a page "
                                     "fault while loading it to deliver an event", self.eip)

    def _core_u32(self, address: int, present: bool = False) -> int | None:
        """A dword as the core sees physical memory (0, or None with ``present``, if nothing is
        mapped there: an EPT frame not yet present, a bus where no memory answers)."""
        try:
            return int.from_bytes(self.uc.mem_read(address, 4), "little")
        except unicorn.UcError:
            return None if present else 0

    def _check_target(self, cs: int, ss: int, ring: int) -> str | None:
        """Why the CPU would refuse CS/SS for ``ring`` (None: it accepts them)."""
        code = self.descriptor(cs)
        if code is None or not code[1] & (1 << 15) or not code[1] & (1 << 12) \
                or not code[1] & (1 << 11):
            return f"{cs:#06x} is not a present code segment"
        conforming = bool(code[1] & (1 << 10))
        if not conforming and (code[1] >> 13) & 3 != ring:
            return f"code segment {cs:#06x} has DPL {(code[1] >> 13) & 3}, not {ring}"
        data = self.descriptor(ss)
        if data is None or not data[1] & (1 << 15) or not data[1] & (1 << 12) \
                or data[1] & (1 << 11) or not data[1] & (1 << 9):
            return f"{ss:#06x} is not a present writable data segment"
        if (data[1] >> 13) & 3 != ring or ss & 3 != ring:
            return f"stack segment {ss:#06x} is not for ring {ring}"
        return None

    def _enter(self, cs: int, eip: int, ss: int, esp: int, eflags: int, target: int,
               cpl: int) -> None:
        w = self._fast.write
        if target < cpl:
            cr0 = self._fast.read(X.UC_X86_REG_CR0)
            w(X.UC_X86_REG_CR0, cr0 & ~(PE | paging.PG))  # (PG needs PE)
            w(X.UC_X86_REG_SS, 0)
            w(X.UC_X86_REG_CR0, cr0)
            cpl = 0
            if target > 0:  # the trampoline's IRETD needs a 32-bit ring-0 stack segment
                w(X.UC_X86_REG_SS, self.monitor_ss)
        if target == cpl:
            # One register at a time: inside a hook, Unicorn's batch write does not redirect EIP.
            if ss != self._fast.read(X.UC_X86_REG_SS):  # a reload would set its Accessed bit
                w(X.UC_X86_REG_SS, ss)
            w(X.UC_X86_REG_CS, cs)
            w(X.UC_X86_REG_ESP, esp)
            w(X.UC_X86_REG_EFLAGS, eflags)
            w(X.UC_X86_REG_EIP, eip)
        else:
            self.deprivilege(cs=cs, eip=eip, ss=ss, esp=esp, eflags=eflags)

    def deprivilege(self, cs: int, eip: int, ss: int, esp: int, eflags: int) -> None:
        """Drop to an outer ring with a real IRETD (the monitor's trampoline), as an OS does."""
        frame = struct.pack("<5I", eip, cs, eflags, esp, ss)
        # an IRETD above ring 0 leaves IF and IOPL as they are (CPL > IOPL: SDM vol. 2A, IRET),
        # and a monitor's transition may start in ring 1 or 2: set them first, as the frame has
        # them, so that the outer ring starts with the frame's
        now = self._fast.read(X.UC_X86_REG_EFLAGS)
        if (now ^ eflags) & (IF | IOPL_MASK):
            self._fast.write(X.UC_X86_REG_EFLAGS, (now & ~(IF | IOPL_MASK))
                             | (eflags & (IF | IOPL_MASK)))
        top = layout.MONITOR_STACK - len(frame)
        self.uc.mem_write(top, frame)
        self._fast.write(X.UC_X86_REG_ESP, top)
        self._fast.write(X.UC_X86_REG_EIP, layout.TRAMPOLINE)
        self._m.clock.trampoline_armed(cs & 3)

    def run_trampoline(self, ring: int) -> None:
        """Execute the trampoline's IRETD now, outside any slice (it is the monitor's, not
        counted as the guest's)."""
        blocks = self._m.core.blocks
        was, self._fast.in_exception = self._fast.in_exception, False  # (see FastRegisters)
        try:
            if blocks is None:
                self.uc.emu_start(layout.TRAMPOLINE, layout.UNTIL_NEVER, 0, 1)
            else:
                blocks.run_exactly(self._m, layout.TRAMPOLINE, 1)
        finally:
            self._fast.in_exception = was
        self._m.core.clear_fault()
        if self.cpl() != ring:
            raise VlabError(f"deprivilege to ring {ring} failed (CPL is {self.cpl()})")

    def next_guest_entry(self) -> tuple[int, int]:
        """(CS, EIP) the guest runs at next: past the monitor's trampoline if one is pending."""
        eip = self.eip
        if eip == layout.TRAMPOLINE:
            frame_eip, frame_cs = struct.unpack("<II", self.uc.mem_read(self.reg("esp"), 8))
            return frame_cs & 0xFFFF, frame_eip
        return self.reg("cs"), eip
