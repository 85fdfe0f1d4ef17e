"""vlab's own exit handlers, and the HandlerTable that dispatches to them (KVM style).

Each handler emulates one event on the virtual CPU and advances the guest explicitly. A student's
handler has exactly the same signature, ``handler(vcpu, exit) -> None``, and can replace any of
these in a strategy's table.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Callable, Mapping, Union

from vlab.errors import GuestException, GuestFault, ProtectionFault
from vlab.hw import checks
from vlab.hw.cpu import descriptor_base
from vlab.isa import PREFIX_BYTES, Instruction, decoder, operands
from vlab.monitor import qualification as q
from vlab.monitor.trace import Exit, ExitReason
from vlab.state import IF, IOPL_MASK, NT, TableRegister

if TYPE_CHECKING:
    from vlab.monitor.vcpu import VirtualCpu

Handler = Callable[["VirtualCpu", Exit], None]
Key = Union[ExitReason, str, tuple]


class HandlerTable:
    """Maps an exit to its handler: first by instruction mnemonic (``"lgdt"``), then by
    :class:`ExitReason` (like KVM's ``kvm_vmx_exit_handlers``)."""

    def __init__(self, handlers: dict[Key, Handler] | None = None):
        self._handlers: dict[Key, Handler] = dict(handlers or {})
        #: moves on with every change (a monitor remembers which handler an exit found)
        self.version = 0

    def __setitem__(self, key: Key, handler: Handler) -> None:
        if not callable(handler):
            raise TypeError(f"the handler for {key} must be a function handler(vcpu, exit)")
        self._handlers[key] = handler
        self.version += 1

    def __getitem__(self, key: Key) -> Handler:
        return self._handlers[key]

    def __contains__(self, key: Key) -> bool:
        return key in self._handlers

    def lookup(self, exit_: Exit) -> Handler | None:
        """The handler for ``exit_``."""
        # A mnemonic key names an instruction to emulate: it never catches a reflected exception
        # (whose exit shows the faulting instruction but carries no bytes to emulate).
        return self.find(exit_.reason, exit_.instruction if exit_.raw else "", exit_.detail)

    def find(self, reason: ExitReason, instruction: str, detail: Mapping) -> Handler | None:
        """The handler for an exit of ``reason`` at ``instruction`` (its text, "" if none to
        emulate): a hypercall's name, then (reason, via), the mnemonic, the reason."""
        hypercall = detail.get("hypercall")
        h = self._handlers
        return ((hypercall and h.get(hypercall)) or h.get((reason, detail.get("via")))
                or h.get(_mnemonic(instruction)) or h.get(reason))

    def get(self, key: Key) -> Handler | None:
        """The handler installed under exactly ``key`` (None if none)."""
        return self._handlers.get(key)

    def copy(self) -> HandlerTable:
        return HandlerTable(self._handlers)

    def items(self):
        return self._handlers.items()


_TEXT_PREFIXES = frozenset({"rep", "repe", "repne", "repz", "repnz", "lock", "bnd", "notrack"})


def _mnemonic(text: str) -> str:
    """The mnemonic of an instruction's text, without prefixes ("rep insb ..." -> "insb")."""
    found = _MNEMONICS.get(text)
    if found is None:
        found = next((word for word in text.split() if word not in _TEXT_PREFIXES), "")
        if len(_MNEMONICS) < 65_536:
            _MNEMONICS[text] = found
    return found


_MNEMONICS: dict[str, str] = {}  # instruction text -> mnemonic (asked at every exit)


# ------------------------------------------------------------------------ helpers
def instruction_of(exit_: Exit) -> Instruction:
    """The exit's decoded instruction (decoded once, when the exit was built; an exit made by
    hand, e.g. in a test, is decoded here)."""
    insn = getattr(exit_, "insn", None)
    return insn if insn is not None else decoder().decode(exit_.raw, exit_.eip)


def stack_operand_size(insn: Instruction) -> int:
    """Bytes a PUSH/POP/PUSHF/POPF of 32-bit code moves: 2 with an operand-size prefix (66h:
    PUSHFW, PUSH CS, POP DS as 16-bit forms), else 4 (SDM vol. 2, PUSH and POP)."""
    for byte in insn.raw:
        if byte not in PREFIX_BYTES:
            return 4
        if byte == 0x66:
            return 2
    return 4


def operand_value(vcpu: VirtualCpu, exit_: Exit, index: int) -> int:
    insn = instruction_of(exit_)
    op = operands(insn)[index]
    if op.kind == "reg":
        return vcpu.regs[op.reg]
    if op.kind == "imm":
        return op.value
    data = vcpu.mem.read(effective_address(vcpu, exit_, index), op.size or 4)
    return int.from_bytes(data, "little")


def effective_address(vcpu: VirtualCpu, exit_: Exit, index: int = 0) -> int:
    """The linear address of a memory operand of the exit's instruction (flat segments)."""
    return operand_address(vcpu, instruction_of(exit_), index)


def lmsw_source(vcpu: VirtualCpu, insn: Instruction) -> int:
    """LMSW's 16-bit source operand, from a register or memory (0 for other instructions)."""
    if insn.mnemonic != "lmsw":
        return 0
    op = operands(insn)[0]
    if op.kind == "mem":
        return int.from_bytes(vcpu.mem.read(operand_address(vcpu, insn), 2), "little")
    return vcpu.regs[op.reg] & 0xFFFF


def operand_address(vcpu: VirtualCpu, insn: Instruction, index: int = 0) -> int:
    """The linear address of memory operand ``index`` of a decoded instruction."""
    op = operands(insn)[index]
    if op.kind != "mem":
        raise GuestFault(f"{insn.text}: operand {index} is not in memory", insn.address)
    addr = op.disp
    if op.base:
        addr += vcpu.regs[op.base]
    if op.index:
        addr += vcpu.regs[op.index] * op.scale
    # logical -> linear: the segment's base (SDM vol. 3A, 3.4; SS for ESP/EBP-based operands)
    segment = op.segment or ("ss" if op.base in ("esp", "ebp") else "ds")
    return (addr + vcpu.segment_base(segment)) & 0xFFFF_FFFF


# ------------------------------------------------------------------------ interrupt flag
def handle_cli(vcpu: VirtualCpu, exit_: Exit) -> None:
    """CLI: clear the *virtual* interrupt flag; the real one stays set for the monitor."""
    vcpu.virt.IF = False
    vcpu.skip()


def handle_sti(vcpu: VirtualCpu, exit_: Exit) -> None:
    """STI: set the virtual interrupt flag; pending interrupts may now be delivered."""
    vcpu.virt.IF = True
    vcpu.skip()


def handle_hlt(vcpu: VirtualCpu, exit_: Exit) -> None:
    """HLT: the guest idles until its next interrupt: virtual time skips ahead to it."""
    vcpu.skip()
    vcpu.halt()


# ------------------------------------------------------------------------ I/O
def handle_in(vcpu: VirtualCpu, exit_: Exit) -> None:
    """IN: read the virtual device named by the exit qualification into AL/AX/EAX."""
    io = q.decode_io(exit_.qualification)
    value = vcpu.port_read(io.port, io.size)
    vcpu.regs[{1: "al", 2: "ax", 4: "eax"}[io.size]] = value
    vcpu.skip()


def handle_out(vcpu: VirtualCpu, exit_: Exit) -> None:
    """OUT: write AL/AX/EAX to the virtual device named by the exit qualification."""
    io = q.decode_io(exit_.qualification)
    vcpu.port_write(io.port, io.size, vcpu.regs[{1: "al", 2: "ax", 4: "eax"}[io.size]])
    vcpu.skip()


def handle_string_io(vcpu: VirtualCpu, exit_: Exit) -> None:
    """INS/OUTS (one element per exit): the element comes from (or goes to) memory, not AL;
    the core moves it and steps EDI/ESI and ECX."""
    io = q.decode_io(exit_.qualification)
    if io.is_in:
        vcpu.string_in_value = vcpu.port_read(io.port, io.size)
    else:
        vcpu.port_write(io.port, io.size, exit_.detail.get("value", 0))
    vcpu.skip()


# ------------------------------------------------------------------------ control registers
ET = 1 << 4  # CR0.ET


def handle_mov_cr(vcpu: VirtualCpu, exit_: Exit) -> None:
    """MOV to/from CRn, CLTS, LMSW: on the virtual control registers (qualification decoded)."""
    cr = q.decode_cr(exit_.qualification)
    if cr.cr not in (0, 2, 3, 4):
        raise GuestException(f"CR{cr.cr} does not exist: #UD", 6)
    name = f"CR{cr.cr}"
    if cr.access_type == 0:
        value = vcpu.regs[cr.register]
        refused = {0: checks.cr0_refused, 4: checks.cr4_refused}.get(cr.cr, lambda _: None)(value)
        if refused:  # SDM vol. 2A, MOV CR: #GP(0), the register unchanged
            raise ProtectionFault(f"MOV to {name}: {refused}")
        if cr.cr == 0:
            value |= ET  # CR0.ET is hard-wired to 1 on P6 and later (SDM vol. 3A, 2.5)
        setattr(vcpu.virt, name, value)
    elif cr.access_type == 1:
        vcpu.regs[cr.register] = getattr(vcpu.virt, name)
    elif cr.access_type == 2:
        vcpu.virt.CR0 &= ~0x8  # CLTS clears CR0.TS
    else:
        vcpu.virt.CR0 = (vcpu.virt.CR0 & ~0xE) | (cr.lmsw_data & 0xF) | (vcpu.virt.CR0 & 1)
    vcpu.skip()


def handle_mov_dr(vcpu: VirtualCpu, exit_: Exit) -> None:
    """MOV to/from a debug register (exit reason 29): on virtual debug registers (DR4/DR5 are
    DR6/DR7, as with CR4.DE clear)."""
    insn = instruction_of(exit_)
    dst, src = operands(insn)
    to_dr = dst.reg.startswith("dr")
    n = int((dst if to_dr else src).reg[2:])
    n = {4: 6, 5: 7}.get(n, n)
    key = 0xD0 + n  # kept with the virtual MSRs, under keys no MSR uses
    msrs = vcpu.virt.msrs
    if msrs.get(0xD7, 0x400) & checks.DR7_GD:  # general detect (SDM vol. 3B, 18.2.4): a #DB
        msrs[0xD6] = msrs.get(0xD6, 0xFFFF0FF0) | checks.DR6_BD  # fault, DR6.BD set, GD
        msrs[0xD7] &= ~checks.DR7_GD  # cleared for the handler
        raise GuestException("MOV DR with DR7.GD set", 1)
    if to_dr:
        vcpu.virt.msrs[key] = vcpu.regs[src.reg]
        if n != 6:
            vcpu.on_debug_change()  # the monitor watches the guest's instruction breakpoints
    else:
        vcpu.regs[dst.reg] = vcpu.virt.msrs.get(key, {6: 0xFFFF0FF0, 7: 0x400}.get(n, 0))
    vcpu.skip()


# ------------------------------------------------------------------------ descriptor tables
def _read_table_register(vcpu: VirtualCpu, exit_: Exit) -> TableRegister:
    limit, base = struct.unpack("<HI", vcpu.mem.read(effective_address(vcpu, exit_), 6))
    return TableRegister(base, limit)


def handle_lgdt(vcpu: VirtualCpu, exit_: Exit) -> None:
    """LGDT: load the virtual GDTR; the monitor rebuilds the shadow GDT the core really uses."""
    vcpu.virt.GDTR = _read_table_register(vcpu, exit_)
    vcpu.on_gdt_change()
    vcpu.skip()


def handle_lidt(vcpu: VirtualCpu, exit_: Exit) -> None:
    """LIDT: load the virtual IDTR; interrupts are reflected through the table it names."""
    vcpu.virt.IDTR = _read_table_register(vcpu, exit_)
    vcpu.skip()


def handle_ltr(vcpu: VirtualCpu, exit_: Exit) -> None:
    """LTR: the virtual task register (the guest's TSS gives the stacks for injection); like
    the CPU, check the selector and mark the guest's TSS descriptor busy (SDM vol. 2A, LTR:
    #GP(0) for a null selector; #GP(selector) for an LDT selector, a descriptor that is not an
    available TSS (a busy one included) or past the GDT; #NP(selector) if it is not present)."""
    selector = operand_value(vcpu, exit_, 0) & 0xFFFF
    if selector & 0xFFFC == 0:
        raise ProtectionFault("LTR with a null selector")
    d = vcpu.guest_descriptor(selector)
    if selector & 4 or d is None or d[1] & (1 << 12) or (d[1] >> 8) & 0x17 != 0x01:
        raise ProtectionFault(f"LTR {selector:#06x}: not an available TSS in the GDT", selector)
    if not d[1] & (1 << 15):
        raise GuestException(f"LTR {selector:#06x}: the TSS is not present", 11,
                             selector & 0xFFFC)
    vcpu.virt.TR = selector
    vcpu.mem.write_u32(vcpu.virt.GDTR.base + (selector & 0xFFF8) + 4, d[1] | 0x200)  # busy
    vcpu.skip()


def handle_lldt(vcpu: VirtualCpu, exit_: Exit) -> None:
    """LLDT: the virtual LDTR; a null selector leaves no LDT, else it must name a present LDT
    descriptor in the GDT (SDM vol. 2A, LLDT: #GP(selector), #NP(selector)). The monitor then
    shadows that LDT as it does the GDT."""
    selector = operand_value(vcpu, exit_, 0) & 0xFFFF
    if selector & 0xFFFC:
        d = vcpu.guest_descriptor(selector)
        if selector & 4 or d is None or (d[1] >> 8) & 0x1F != 0x02:
            raise ProtectionFault(f"LLDT {selector:#06x}: not an LDT descriptor in the GDT",
                                  selector)
        if not d[1] & (1 << 15):
            raise GuestException(f"LLDT {selector:#06x}: the LDT is not present", 11,
                                 selector & 0xFFFC)
    vcpu.virt.LDTR = selector
    vcpu.on_ldt_change()
    vcpu.skip()


# ------------------------------------------------------------------------ MSRs, caches, TLB
#: MSRs whose power-up value is not 0 (SDM vol. 3A, 11.12.4: IA32_PAT's default memory types).
MSR_POWER_UP = {0x277: 0x0007_0406_0007_0406}


def _implemented(msr: int) -> None:
    """#GP(0) for an MSR the processor does not implement (SDM vol. 2B, RDMSR, WRMSR)."""
    if msr not in checks.IMPLEMENTED_MSRS:
        raise ProtectionFault(f"MSR {msr:#x} does not exist")


def handle_rdmsr(vcpu: VirtualCpu, exit_: Exit) -> None:
    """RDMSR: EDX:EAX = virtual MSR[ECX] (its power-up value if never written)."""
    msr = vcpu.regs.ecx
    _implemented(msr)
    value = vcpu.virt.msrs.get(msr, MSR_POWER_UP.get(msr, 0))
    vcpu.regs.eax, vcpu.regs.edx = value & 0xFFFF_FFFF, value >> 32
    vcpu.skip()


def handle_wrmsr(vcpu: VirtualCpu, exit_: Exit) -> None:
    """WRMSR: virtual MSR[ECX] = EDX:EAX."""
    _implemented(vcpu.regs.ecx)
    vcpu.virt.msrs[vcpu.regs.ecx] = (vcpu.regs.edx << 32) | vcpu.regs.eax
    vcpu.skip()


def handle_rdpmc(vcpu: VirtualCpu, exit_: Exit) -> None:
    """RDPMC (exit reason 15): #GP(0) at CPL > 0 with CR4.PCE clear, or for a counter other
    than 0 and 1 (SDM vol. 2B, RDPMC); counters are not modelled: they read 0."""
    if (vcpu.virt.CPL != 0 and not vcpu.virt.CR4 & checks.PCE) or \
            vcpu.regs.ecx >= checks.PMC_COUNTERS:
        raise ProtectionFault(f"RDPMC of counter {vcpu.regs.ecx:#x} refused")
    vcpu.regs.eax = vcpu.regs.edx = 0
    vcpu.skip()


def handle_rdtsc(vcpu: VirtualCpu, exit_: Exit) -> None:
    """RDTSC exit (reason 16; under a software monitor, RDTSC with CR4.TSD set): the virtual
    time-stamp counter (virtual time, in guest instructions)."""
    tsc = vcpu.machine.vtime
    vcpu.regs.eax, vcpu.regs.edx = tsc & 0xFFFF_FFFF, tsc >> 32
    vcpu.skip()


def handle_sysexit(vcpu: VirtualCpu, exit_: Exit) -> None:
    """SYSEXIT by the deprivileged kernel: to ring 3 at CS = IA32_SYSENTER_CS + 16, SS = + 24
    (RPL 3), EIP = EDX, ESP = ECX; #GP(0) if that MSR is null or the guest is not at CPL 0
    (SDM vol. 2B, SYSEXIT)."""
    cs = vcpu.virt.msrs.get(checks.SYSENTER_CS, 0) & 0xFFFC
    if cs == 0 or vcpu.virt.CPL != 0:
        raise ProtectionFault("SYSEXIT with IA32_SYSENTER_CS null or at CPL > 0")
    m = vcpu.machine
    m.cpu.enter(cs=(cs + 16) | 3, eip=vcpu.regs.edx, ss=(cs + 24) | 3, esp=vcpu.regs.ecx,
                eflags=m.cpu.reg("eflags"))


def handle_invlpg(vcpu: VirtualCpu, exit_: Exit) -> None:
    """INVLPG: the guest changed a mapping; drop what the shadow page tables hold for it
    (under VT-x the exit qualification is the linear address, SDM vol. 3, table 28-1)."""
    if exit_.reason == ExitReason.INVLPG and exit_.qualification:
        linear = exit_.qualification
    else:
        linear = effective_address(vcpu, exit_)
    vcpu.invlpg(linear)
    vcpu.skip()


def handle_nop(vcpu: VirtualCpu, exit_: Exit) -> None:
    """WBINVD, INVD: caches are not modelled; just step over."""
    vcpu.skip()


# ------------------------------------------------------------------------ control transfers
def handle_iret(vcpu: VirtualCpu, exit_: Exit) -> None:
    """IRETD: pop EIP, CS, EFLAGS (and ESP, SS to an outer ring), restoring the *virtual* IF and
    IOPL from the popped flags. (At CPL > 0 the hardware would never change IF.) IRETW (an
    operand-size prefix) pops IP, CS and FLAGS as words; EFLAGS[31:16] stay (SDM vol. 2A, IRET)."""
    if vcpu.machine.cpu.reg("eflags") & NT:
        # a task return (SDM vol. 2A, IRET: NT = 1): vlab switches no tasks; the back link of a
        # TSS that is not a busy one is #TS(back link), the usual case (a null link: #TS(0))
        tss = vcpu.guest_descriptor(vcpu.virt.TR)
        link = 0 if tss is None else struct.unpack("<H", vcpu.mem.read(descriptor_base(tss), 2))[0]
        raise GuestException(f"IRETD with NT = 1: a task return to {link:#06x}, which vlab "
                             "does not switch to", 10, link & 0xFFFC)
    esp = vcpu.regs.esp
    size = stack_operand_size(instruction_of(exit_)) if exit_.raw else 4
    eip, cs, eflags = _pop(vcpu, esp, 3, size)
    cs &= 0xFFFF
    if size == 2:
        eflags |= vcpu.regs.eflags & 0xFFFF_0000
    vcpu.virt.IF = bool(eflags & IF)
    vcpu.virt.IOPL = (eflags & IOPL_MASK) >> 12
    target = cs & 3
    # the deprivileged kernel runs with the real IF set (its own is virtual); a user task's IF
    # is the CPU's: back to ring 3, the popped one
    real_flags = (eflags & ~IOPL_MASK) | (0 if target == 3 else IF)
    m = vcpu.machine
    vcpu.mark_accessed(cs)
    if target > vcpu.virt.CPL:
        new_esp, ss = _pop(vcpu, esp + 3 * size, 2, size)
        vcpu.mark_accessed(ss)
        m.cpu.enter(cs=vcpu.to_real(cs), eip=eip, ss=vcpu.to_real(ss & 0xFFFF), esp=new_esp,
                eflags=real_flags)
    else:
        m.cpu.enter(cs=vcpu.to_real(cs), eip=eip, ss=m.cpu.reg("ss"), esp=esp + 3 * size,
                    eflags=real_flags)


def _pop(vcpu: VirtualCpu, esp: int, count: int, size: int) -> tuple[int, ...]:
    """``count`` stack slots of ``size`` bytes (2 or 4) from ``esp`` up."""
    return struct.unpack(f"<{count}{'H' if size == 2 else 'I'}", vcpu.mem.read(esp, count * size))


def handle_far_transfer(vcpu: VirtualCpu, exit_: Exit) -> None:
    """Far JMP/CALL/RET to a selector the deprivileged guest may not use directly: emulated
    with the real selector the monitor substitutes (the guest can see the difference)."""
    m = vcpu.machine
    mnemonic = exit_.instruction.split()[0]
    esp = vcpu.regs.esp
    if mnemonic == "retf":  # (RETF imm16 then releases imm16 bytes; RETFW pops words)
        insn = instruction_of(exit_)
        size = stack_operand_size(insn)
        release = operands(insn)[0].value if operands(insn) else 0
        eip, cs = _pop(vcpu, esp, 2, size)
        cs &= 0xFFFF
        vcpu.mark_accessed(cs)
        esp += 2 * size + release
        ss = m.cpu.reg("ss")
        if cs & 3 > vcpu.virt.CPL:  # to an outer ring: its ESP and SS follow the parameters
            esp, ss = _pop(vcpu, esp, 2, size)
            ss = vcpu.to_real(ss & 0xFFFF)
            esp += release
        m.cpu.enter(cs=vcpu.to_real(cs), eip=eip, ss=ss, esp=esp & 0xFFFF_FFFF,
                    eflags=m.cpu.reg("eflags"))
        return
    ops = operands(instruction_of(exit_))
    if len(ops) == 2 and ops[0].kind == "imm":
        cs, eip = ops[0].value & 0xFFFF, ops[1].value
    else:
        raw = vcpu.mem.read(effective_address(vcpu, exit_), 6)
        eip, cs = struct.unpack("<IH", raw)
    call = mnemonic == "lcall"
    back = (exit_.eip + len(exit_.raw), vcpu.to_virtual(m.cpu.reg("cs")))  # what a CALL pushes
    d = _far_descriptor(vcpu, cs)
    if not d[1] & (1 << 12):  # a system descriptor: only a call gate is a far JMP/CALL's
        cs, eip, d, inward = _through_call_gate(vcpu, cs, d, call)
        if inward:  # CALL to an inner ring (SDM vol. 3A, 5.8.5 and figure 5-13)
            _call_inward(vcpu, cs, eip, d, inward, back)
            return
    else:
        _check_code_target(vcpu, cs, d, cs & 3)
    cs = (cs & 0xFFFC) | vcpu.virt.CPL  # the CPL does not change: CS.RPL <- CPL
    vcpu.mark_accessed(cs)
    if call:
        esp -= 8
        vcpu.mem.write(esp, struct.pack("<II", *back))
    m.cpu.enter(cs=vcpu.to_real(cs), eip=eip, ss=m.cpu.reg("ss"), esp=esp,
                eflags=m.cpu.reg("eflags"))


def _far_descriptor(vcpu: VirtualCpu, selector: int) -> tuple[int, int]:
    """The guest's descriptor a far JMP/CALL names: #GP(0) for null, #GP(sel) past the GDT."""
    if selector & 0xFFFC == 0:
        raise ProtectionFault("far transfer to a null selector")
    d = vcpu.guest_descriptor(selector)
    if d is None:
        raise ProtectionFault(f"{selector:#06x} is past the GDT (or in an LDT)", selector)
    return d


def _check_code_target(vcpu: VirtualCpu, selector: int, d: tuple[int, int], rpl: int,
                       via_gate: bool = False) -> None:
    """SDM vol. 2A JMP/CALL: a code segment; conforming: DPL <= CPL; non-conforming: RPL <=
    CPL and DPL = CPL (through a gate: DPL <= CPL); present (#NP(sel))."""
    hi, cpl = d[1], vcpu.virt.CPL
    dpl = (hi >> 13) & 3
    if not hi & (1 << 12) or not hi & (1 << 11):
        raise ProtectionFault(f"{selector:#06x} is not a code segment", selector)
    conforming = bool(hi & (1 << 10))
    if via_gate or conforming:
        if dpl > cpl:
            raise ProtectionFault(f"code segment {selector:#06x} (DPL {dpl}) above CPL {cpl}",
                                  selector)
    elif rpl > cpl or dpl != cpl:
        raise ProtectionFault(f"code segment {selector:#06x} (DPL {dpl}, RPL {rpl}) not at "
                              f"CPL {cpl}", selector)
    if not hi & (1 << 15):
        raise GuestException(f"code segment {selector:#06x} not present", 11, selector & 0xFFFC)


def _through_call_gate(vcpu: VirtualCpu, gate: int, d: tuple[int, int], call: bool):
    """A far JMP/CALL through a 32-bit call gate (SDM vol. 3A, 5.8.4): the gate's DPL must
    admit the CPL and RPL; its target code segment's DPL must not be above the CPL (a JMP stays
    at the CPL). Returns (target selector, offset, target descriptor, inner ring or None)."""
    lo, hi = d
    cpl = vcpu.virt.CPL
    if (hi >> 8) & 0x1F != 0x0C:
        raise ProtectionFault(f"{gate:#06x} is a system descriptor vlab cannot jump through "
                              "(task switches are not modelled)" if (hi >> 8) & 0xF in (5, 9)
                              else f"{gate:#06x} is not a call gate or code segment", gate)
    if (hi >> 13) & 3 < max(cpl, gate & 3):
        raise ProtectionFault(f"call gate {gate:#06x}: DPL below CPL or RPL", gate)
    if not hi & (1 << 15):
        raise GuestException(f"call gate {gate:#06x} not present", 11, gate & 0xFFFC)
    target, offset = lo >> 16, (hi & 0xFFFF_0000) | (lo & 0xFFFF)
    td = _far_descriptor(vcpu, target)
    _check_code_target(vcpu, target, td, cpl, via_gate=True)
    dpl, conforming = (td[1] >> 13) & 3, bool(td[1] & (1 << 10))
    if not call and not conforming and dpl != cpl:
        raise ProtectionFault(f"JMP through call gate {gate:#06x} to another ring", target)
    inner = dpl if call and not conforming and dpl < cpl else None
    return target, offset, td, (hi & 0x1F, inner) if inner is not None else None


def _call_inward(vcpu: VirtualCpu, target: int, offset: int, d, inward, back) -> None:
    """CALL through a gate to an inner ring: the TSS's stack for that ring gets the caller's
    SS, ESP, the gate's parameter count of dwords from the caller's stack, CS and EIP."""
    params, ring = inward
    m = vcpu.machine
    ss, esp = vcpu.guest_tss_stack(ring)
    old_esp = vcpu.regs.esp
    copied = vcpu.mem.read(old_esp, 4 * params)
    frame = struct.pack("<II", *back) + copied + struct.pack(
        "<II", old_esp, vcpu.to_virtual(m.cpu.reg("ss")))
    esp = (esp - len(frame)) & 0xFFFF_FFFF
    vcpu.mem.write(esp, frame)
    cs = (target & 0xFFFC) | ring
    vcpu.mark_accessed(cs)
    m.cpu.enter(cs=vcpu.to_real(cs), eip=offset, ss=vcpu.to_real((ss & 0xFFFC) | ring), esp=esp,
                eflags=m.cpu.reg("eflags"))


def handle_segment_load(vcpu: VirtualCpu, exit_: Exit) -> None:
    """MOV/POP to a segment register that faulted at the deprivileged CPL: load the real selector
    the monitor substitutes for the guest's."""
    insn = instruction_of(exit_)
    ops = operands(insn)
    seg = ops[0].reg
    if insn.mnemonic == "pop":
        size = stack_operand_size(insn)
        value = vcpu.mem.u16(vcpu.regs.esp)
        vcpu.regs.esp = vcpu.regs.esp + size
    else:
        value = operand_value(vcpu, exit_, 1) & 0xFFFF
    # a trapped load may carry a selector the monitor substituted (the kernel's RPL 1 saved by
    # an untrapped PUSH DS); translated code never sees one, so its selectors are the guest's
    check_segment_load(vcpu, seg, value, substituted=exit_.detail.get("via") != "callout")
    vcpu.regs[seg] = vcpu.to_real(value)
    vcpu.mark_accessed(value)
    vcpu.skip()


def check_segment_load(vcpu: VirtualCpu, seg: str, selector: int,
                       substituted: bool = True) -> None:
    """The checks of a MOV/POP to a segment register, on the guest's GDT and virtual CPL
    (SDM vol. 2A, MOV, "Operation" for protected mode): SS needs a present writable data
    segment with RPL = DPL = CPL (#GP(0) if null, #GP(sel) otherwise, #SS(sel) if not
    present); DS/ES/FS/GS accept null, else a data or readable code segment that the CPL and
    RPL may use (#GP(sel), #NP(sel) if not present). With ``substituted``, a selector the
    monitor substituted (RPL 1 for the deprivileged kernel's RPL 0, saved on a stack and loaded
    back) counts as the guest's."""
    if substituted:
        selector = vcpu.to_virtual(selector)
    cpl, rpl = vcpu.virt.CPL, selector & 3
    if selector & 0xFFFC == 0:
        if seg == "ss":
            raise ProtectionFault("MOV SS with a null selector")
        return
    if selector & 4:
        return  # an LDT selector: the core checks it against the real LDT
    d = vcpu.guest_descriptor(selector)
    if d is None:
        raise ProtectionFault(f"selector {selector:#06x} is past the GDT", selector)
    hi = d[1]
    dpl, code, present = (hi >> 13) & 3, bool(hi & (1 << 11)), bool(hi & (1 << 15))
    if seg == "ss":
        if rpl != cpl or dpl != cpl or not hi & (1 << 12) or code or not hi & (1 << 9):
            raise ProtectionFault(f"MOV SS, {selector:#06x}: not a writable data segment at "
                                  f"CPL {cpl}", selector)
        if not present:
            raise GuestException(f"stack segment {selector:#06x} not present", 12,
                                 selector & 0xFFFC)
        return
    if not hi & (1 << 12) or (code and not hi & (1 << 9)):
        raise ProtectionFault(f"{selector:#06x} is not a data or readable code segment", selector)
    conforming_code = code and bool(hi & (1 << 10))
    if not conforming_code and (rpl > dpl or cpl > dpl):
        raise ProtectionFault(f"{selector:#06x}: DPL {dpl} below CPL {cpl} or RPL {rpl}",
                              selector)
    if not present:
        raise GuestException(f"segment {selector:#06x} not present", 11, selector & 0xFFFC)


# ------------------------------------------------------------------------ interrupts
def handle_external_interrupt(vcpu: VirtualCpu, exit_: Exit) -> None:
    """A device interrupt (the timer): reflect it into the guest's IDT."""
    vcpu.inject(exit_.detail["vector"])


def handle_exception(vcpu: VirtualCpu, exit_: Exit) -> None:
    """A fault the guest must handle itself (its user task's #GP, a true #PF ...): reflect it.
    A *hidden* page fault (the shadow page tables lacked a mapping the guest's tables have) was
    fixed by the monitor's MMU already: the guest must never see it."""
    if exit_.detail.get("page_fault") in ("hidden", "pt_write"):
        return
    if exit_.detail["vector"] == 1:  # the guest reads why in its (virtual) DR6: B0-B3, BD, BS, BT
        msrs = vcpu.virt.msrs
        why = vcpu.machine.cpu.reg("dr6") & 0xE00F
        msrs[0xD6] = (msrs.get(0xD6, 0xFFFF0FF0) & ~0xE00F) | why
    vcpu.inject(exit_.detail["vector"], exit_.detail.get("error_code"))


def handle_software_interrupt(vcpu: VirtualCpu, exit_: Exit) -> None:
    """INT n: through the guest's IDT, with the gate's DPL checked against the virtual CPL."""
    vcpu.inject(exit_.detail["vector"], software=True)


def handle_io(vcpu: VirtualCpu, exit_: Exit) -> None:
    """I/O exit (reason 30): IN or OUT, as the qualification's direction bit says."""
    if q.decode_io(exit_.qualification).string:
        handle_string_io(vcpu, exit_)
    elif q.decode_io(exit_.qualification).is_in:
        handle_in(vcpu, exit_)
    else:
        handle_out(vcpu, exit_)


def default_handlers() -> HandlerTable:
    """vlab's handler table for software monitors (trap-and-emulate, binary translation)."""
    return HandlerTable({
        ExitReason.CLI: handle_cli, ExitReason.STI: handle_sti, ExitReason.HLT: handle_hlt,
        "in": handle_in, "out": handle_out, ExitReason.CR_ACCESS: handle_mov_cr,
        **{m: handle_string_io for m in ("insb", "insw", "insd", "outsb", "outsw", "outsd")},
        ExitReason.IO_INSTRUCTION: handle_io,
        "lgdt": handle_lgdt, "lidt": handle_lidt, "ltr": handle_ltr, "lldt": handle_lldt,
        ExitReason.RDMSR: handle_rdmsr, ExitReason.WRMSR: handle_wrmsr,
        ExitReason.RDPMC: handle_rdpmc, "sysexit": handle_sysexit, ExitReason.RDTSC: handle_rdtsc,
        ExitReason.INVLPG: handle_invlpg, ExitReason.WBINVD: handle_nop, ExitReason.INVD: handle_nop,
        ExitReason.DR_ACCESS: handle_mov_dr,
        ExitReason.IRET: handle_iret, ExitReason.FAR_TRANSFER: handle_far_transfer,
        ExitReason.SEGMENT_LOAD: handle_segment_load,
        ExitReason.EXTERNAL_INTERRUPT: handle_external_interrupt,
        ExitReason.EXCEPTION_NMI: handle_exception,
        ExitReason.SOFTWARE_INTERRUPT: handle_software_interrupt,
    })
