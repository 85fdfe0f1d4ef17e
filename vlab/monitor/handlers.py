"""vlab's own exit handlers, and the HandlerTable that dispatches to them (KVM style).

Each handler emulates one event on the virtual CPU and advances the guest explicitly. A student's
handler has exactly the same signature, ``handler(vcpu, exit) -> None``, and can replace any of
these in a strategy's table.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Callable, Union

from vlab.errors import GuestException, GuestFault
from vlab.isa import Instruction, decoder, operands
from vlab.monitor import qualification as q
from vlab.monitor.trace import Exit, ExitReason
from vlab.state import IF, IOPL_MASK, TableRegister

if TYPE_CHECKING:
    from vlab.monitor.vcpu import VirtualCpu

Handler = Callable[["VirtualCpu", Exit], None]
Key = Union[ExitReason, str, tuple]


class HandlerTable:
    """Maps an exit to its handler: first by instruction mnemonic (``"lgdt"``), then by
    :class:`ExitReason` (like KVM's ``kvm_vmx_exit_handlers``)."""

    def __init__(self, handlers: dict[Key, Handler] | None = None):
        self._handlers: dict[Key, Handler] = dict(handlers or {})

    def __setitem__(self, key: Key, handler: Handler) -> None:
        if not callable(handler):
            raise TypeError(f"the handler for {key} must be a function handler(vcpu, exit)")
        self._handlers[key] = handler

    def __getitem__(self, key: Key) -> Handler:
        return self._handlers[key]

    def __contains__(self, key: Key) -> bool:
        return key in self._handlers

    def lookup(self, exit_: Exit) -> Handler | None:
        # A mnemonic key names an instruction to emulate: it never catches a reflected exception
        # (whose exit shows the faulting instruction but carries no bytes to emulate).
        mnemonic = _mnemonic(exit_.instruction) if exit_.raw else ""
        via = exit_.detail.get("via")
        hypercall = exit_.detail.get("hypercall")
        return ((hypercall and self._handlers.get(hypercall))
                or self._handlers.get((exit_.reason, via)) or self._handlers.get(mnemonic)
                or self._handlers.get(exit_.reason))

    def copy(self) -> HandlerTable:
        return HandlerTable(self._handlers)

    def items(self):
        return self._handlers.items()


_PREFIXES = frozenset({"rep", "repe", "repne", "repz", "repnz", "lock", "bnd", "notrack"})


def _mnemonic(text: str) -> str:
    """The mnemonic of an instruction's text, without prefixes ("rep insb ..." -> "insb")."""
    for word in text.split():
        if word not in _PREFIXES:
            return word
    return ""


# ------------------------------------------------------------------------ helpers
def _operand_value(vcpu: VirtualCpu, exit_: Exit, index: int) -> int:
    insn = decoder().decode(exit_.raw, exit_.eip)
    op = operands(insn)[index]
    if op.kind == "reg":
        return vcpu.regs[op.reg]
    if op.kind == "imm":
        return op.value
    data = vcpu.mem.read(effective_address(vcpu, exit_, index), op.size or 4)
    return int.from_bytes(data, "little")


def effective_address(vcpu: VirtualCpu, exit_: Exit, index: int = 0) -> int:
    """The linear address of a memory operand of the exit's instruction (flat segments)."""
    return operand_address(vcpu, decoder().decode(exit_.raw, exit_.eip), index)


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
    return addr & 0xFFFF_FFFF


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
        exit_.detail["result"] = vcpu.port_read(io.port, io.size)
    else:
        vcpu.port_write(io.port, io.size, exit_.detail.get("value", 0))
    vcpu.skip()


# ------------------------------------------------------------------------ control registers
def handle_mov_cr(vcpu: VirtualCpu, exit_: Exit) -> None:
    """MOV to/from CRn, CLTS, LMSW: on the virtual control registers (qualification decoded)."""
    cr = q.decode_cr(exit_.qualification)
    if cr.cr not in (0, 2, 3, 4):
        raise GuestException(f"CR{cr.cr} does not exist: #UD", 6)
    name = f"CR{cr.cr}"
    if cr.access_type == 0:
        setattr(vcpu.virt, name, vcpu.regs[cr.register])
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
    insn = decoder().decode(exit_.raw, exit_.eip)
    dst, src = operands(insn)
    to_dr = dst.reg.startswith("dr")
    n = int((dst if to_dr else src).reg[2:])
    n = {4: 6, 5: 7}.get(n, n)
    key = 0xD0 + n  # kept with the virtual MSRs, under keys no MSR uses
    if to_dr:
        vcpu.virt.msrs[key] = vcpu.regs[src.reg]
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
    the CPU, mark the guest's TSS descriptor busy."""
    selector = _operand_value(vcpu, exit_, 0) & 0xFFFF
    vcpu.virt.TR = selector
    d = vcpu.guest_descriptor(selector)
    if d is not None and (d[1] >> 8) & 0x1F == 0x09:  # available 32-bit TSS -> busy
        vcpu.mem.write_u32(vcpu.virt.GDTR.base + (selector & 0xFFF8) + 4, d[1] | 0x200)
    vcpu.skip()


def handle_lldt(vcpu: VirtualCpu, exit_: Exit) -> None:
    vcpu.virt.LDTR = _operand_value(vcpu, exit_, 0) & 0xFFFF
    vcpu.skip()


# ------------------------------------------------------------------------ MSRs, caches, TLB
def handle_rdmsr(vcpu: VirtualCpu, exit_: Exit) -> None:
    """RDMSR: EDX:EAX = virtual MSR[ECX] (0 if never written)."""
    value = vcpu.virt.msrs.get(vcpu.regs.ecx, 0)
    vcpu.regs.eax, vcpu.regs.edx = value & 0xFFFF_FFFF, value >> 32
    vcpu.skip()


def handle_wrmsr(vcpu: VirtualCpu, exit_: Exit) -> None:
    """WRMSR: virtual MSR[ECX] = EDX:EAX."""
    vcpu.virt.msrs[vcpu.regs.ecx] = (vcpu.regs.edx << 32) | vcpu.regs.eax
    vcpu.skip()


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
    IOPL from the popped flags. (At CPL > 0 the hardware would never change IF.)"""
    esp = vcpu.regs.esp
    eip, cs, eflags = struct.unpack("<III", vcpu.mem.read(esp, 12))
    cs &= 0xFFFF
    vcpu.virt.IF = bool(eflags & IF)
    vcpu.virt.IOPL = (eflags & IOPL_MASK) >> 12
    real_flags = (eflags & ~IOPL_MASK) | IF
    target = cs & 3
    m = vcpu.machine
    if target > vcpu.virt.CPL:
        new_esp, ss = struct.unpack("<II", vcpu.mem.read(esp + 12, 8))
        vcpu.virt.CPL = target
        m.cpu.enter(cs=vcpu.to_real(cs), eip=eip, ss=vcpu.to_real(ss & 0xFFFF), esp=new_esp,
                eflags=real_flags)
    else:
        vcpu.virt.CPL = target
        m.cpu.enter(cs=vcpu.to_real(cs), eip=eip, ss=m.cpu.reg("ss"), esp=esp + 12, eflags=real_flags)


def handle_far_transfer(vcpu: VirtualCpu, exit_: Exit) -> None:
    """Far JMP/CALL/RET to a selector the deprivileged guest may not use directly: emulated
    with the real selector the monitor substitutes (the guest can see the difference)."""
    m = vcpu.machine
    mnemonic = exit_.instruction.split()[0]
    esp = vcpu.regs.esp
    if mnemonic == "retf":
        eip, cs = struct.unpack("<II", vcpu.mem.read(esp, 8))
        m.cpu.enter(cs=vcpu.to_real(cs & 0xFFFF), eip=eip, ss=m.cpu.reg("ss"), esp=esp + 8,
                eflags=m.cpu.reg("eflags"))
        return
    ops = operands(decoder().decode(exit_.raw, exit_.eip))
    if len(ops) == 2 and ops[0].kind == "imm":
        cs, eip = ops[0].value & 0xFFFF, ops[1].value
    else:
        raw = vcpu.mem.read(effective_address(vcpu, exit_), 6)
        eip, cs = struct.unpack("<IH", raw)
    if mnemonic == "lcall":
        esp -= 8
        vcpu.mem.write(esp, struct.pack("<II", exit_.eip + len(exit_.raw),
                                        vcpu.to_virtual(m.cpu.reg("cs"))))
    m.cpu.enter(cs=vcpu.to_real(cs), eip=eip, ss=m.cpu.reg("ss"), esp=esp, eflags=m.cpu.reg("eflags"))


def handle_segment_load(vcpu: VirtualCpu, exit_: Exit) -> None:
    """MOV/POP to a segment register that faulted at the deprivileged CPL: load the real selector
    the monitor substitutes for the guest's."""
    insn = decoder().decode(exit_.raw, exit_.eip)
    ops = operands(insn)
    seg = ops[0].reg
    if insn.mnemonic == "pop":
        value = vcpu.mem.u32(vcpu.regs.esp) & 0xFFFF
        vcpu.regs.esp = vcpu.regs.esp + 4
    else:
        value = _operand_value(vcpu, exit_, 1) & 0xFFFF
    vcpu.regs[seg] = vcpu.to_real(value)
    vcpu.skip()


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
    vcpu.inject(exit_.detail["vector"], exit_.detail.get("error_code"))


def handle_software_interrupt(vcpu: VirtualCpu, exit_: Exit) -> None:
    """INT n: through the guest's IDT, with the gate's DPL checked against the virtual CPL."""
    vcpu.inject(exit_.detail["vector"], software=True)


# ------------------------------------------------------------------------ sensitive instructions
# Under binary translation these never trap: the translator turned them into callouts, and each
# handler computes what the instruction would do on a CPU whose state is the *virtual* one.
def _write_operand(vcpu: VirtualCpu, exit_: Exit, index: int, value: int) -> None:
    insn = decoder().decode(exit_.raw, exit_.eip)
    op = operands(insn)[index]
    if op.kind == "reg":
        vcpu.regs[op.reg] = value
    else:
        size = op.size or 4
        vcpu.mem.write(effective_address(vcpu, exit_, index), (value & ((1 << 8 * size) - 1))
                       .to_bytes(size, "little"))


def handle_pushf(vcpu: VirtualCpu, exit_: Exit) -> None:
    """PUSHF: push EFLAGS with the *virtual* IF and IOPL (the real ones would be a hole)."""
    esp = (vcpu.regs.esp - 4) & 0xFFFF_FFFF
    vcpu.mem.write_u32(esp, vcpu.guest_eflags() & ~0x30000)  # VM and RF are never pushed
    vcpu.regs.esp = esp
    vcpu.skip()


def handle_popf(vcpu: VirtualCpu, exit_: Exit) -> None:
    """POPF: the virtual IF and IOPL take the popped values (at virtual CPL 0 both may change),
    so interrupts really are disabled or enabled as the kernel asks; the real IF stays set."""
    esp = vcpu.regs.esp
    value = vcpu.mem.u32(esp)
    if vcpu.virt.CPL <= vcpu.virt.IOPL:
        vcpu.virt.IF = bool(value & IF)
    if vcpu.virt.CPL == 0:
        vcpu.virt.IOPL = (value & IOPL_MASK) >> 12
    real = vcpu.regs.eflags
    # real IF/IOPL stay the monitor's; RF, VM, VIF and VIP are not POPF's to change, and the
    # rest is what POPF loads in protected mode (SDM vol. 2, POPF: EFLAGS AND 257FD5H)
    keep = IF | IOPL_MASK | 0x1B0000
    vcpu.regs.eflags = (real & keep) | (value & ~keep & 0x247FD5) | 0x2
    vcpu.regs.esp = esp + 4
    vcpu.skip()


def _store_table_register(vcpu: VirtualCpu, exit_: Exit, reg: TableRegister) -> None:
    vcpu.mem.write(effective_address(vcpu, exit_), struct.pack("<HI", reg.limit, reg.base))


def handle_sgdt(vcpu: VirtualCpu, exit_: Exit) -> None:
    """SGDT: store the *virtual* GDTR (the guest's own table, not the monitor's)."""
    _store_table_register(vcpu, exit_, vcpu.virt.GDTR)
    vcpu.skip()


def handle_sidt(vcpu: VirtualCpu, exit_: Exit) -> None:
    """SIDT: store the virtual IDTR."""
    _store_table_register(vcpu, exit_, vcpu.virt.IDTR)
    vcpu.skip()


def handle_sldt(vcpu: VirtualCpu, exit_: Exit) -> None:
    """SLDT: the virtual LDTR selector."""
    _write_operand(vcpu, exit_, 0, vcpu.virt.LDTR)
    vcpu.skip()


def handle_str(vcpu: VirtualCpu, exit_: Exit) -> None:
    """STR: the virtual task register selector."""
    _write_operand(vcpu, exit_, 0, vcpu.virt.TR)
    vcpu.skip()


def handle_smsw(vcpu: VirtualCpu, exit_: Exit) -> None:
    """SMSW: bits 15:0 of the virtual CR0 (to a 32-bit register the core writes only the low 16
    bits, keeping the rest, so the monitor does the same)."""
    insn = decoder().decode(exit_.raw, exit_.eip)
    op = operands(insn)[0]
    value = vcpu.virt.CR0 & 0xFFFF
    if op.kind == "reg" and op.size == 4:
        value |= vcpu.regs[op.reg] & 0xFFFF_0000
    _write_operand(vcpu, exit_, 0, value)
    vcpu.skip()


def handle_segment_read(vcpu: VirtualCpu, exit_: Exit) -> None:
    """MOV r/m, Sreg and PUSH Sreg: the selector the guest believes in (RPL 0 for its kernel)."""
    insn = decoder().decode(exit_.raw, exit_.eip)
    ops = operands(insn)
    if insn.mnemonic == "push":
        esp = (vcpu.regs.esp - 4) & 0xFFFF_FFFF
        vcpu.mem.write_u32(esp, vcpu.to_virtual(vcpu.regs[ops[0].reg]))
        vcpu.regs.esp = esp
    else:
        value = vcpu.to_virtual(vcpu.regs[ops[1].reg])
        if ops[0].kind == "reg" and ops[0].size == 4:
            vcpu.regs[ops[0].reg] = value  # 32-bit destination: zero-extended, as the core does
        else:
            _write_operand(vcpu, exit_, 0, value)
    vcpu.skip()


def _segment_rights(vcpu: VirtualCpu, selector: int) -> tuple[bool, int, int] | None:
    """(usable at the virtual CPL and RPL, dword 2 of the descriptor, scaled limit) or None."""
    d = vcpu.guest_descriptor(selector)
    if d is None:
        return None
    lo, hi = d
    dpl, conforming_code = (hi >> 13) & 3, (hi & 0x1C00) == 0x1C00
    ok = conforming_code or dpl >= max(vcpu.virt.CPL, selector & 3)
    limit = (hi & 0xF0000) | (lo & 0xFFFF)
    if hi & (1 << 23):
        limit = (limit << 12) | 0xFFF
    return ok, hi, limit


def _set_zf(vcpu: VirtualCpu, on: bool) -> None:
    flags = vcpu.regs.eflags
    vcpu.regs.eflags = (flags | 0x40) if on else (flags & ~0x40)


def _load_if_accessible(vcpu: VirtualCpu, exit_: Exit, value) -> None:
    """LAR/LSL: if the guest's descriptor is usable at the virtual CPL, load ``value(rights)``
    into the destination and set ZF; otherwise clear ZF."""
    r = _segment_rights(vcpu, _operand_value(vcpu, exit_, 1))
    if r and r[0] and r[1] & (1 << 12):
        _write_operand(vcpu, exit_, 0, value(r))
        _set_zf(vcpu, True)
    else:
        _set_zf(vcpu, False)
    vcpu.skip()


def handle_lar(vcpu: VirtualCpu, exit_: Exit) -> None:
    """LAR: access rights from the *guest's* descriptor, judged at the virtual CPL."""
    _load_if_accessible(vcpu, exit_, lambda r: r[1] & 0x00F0FF00)


def handle_lsl(vcpu: VirtualCpu, exit_: Exit) -> None:
    """LSL: the segment limit from the guest's descriptor, judged at the virtual CPL."""
    _load_if_accessible(vcpu, exit_, lambda r: r[2])


def handle_verr(vcpu: VirtualCpu, exit_: Exit) -> None:
    """VERR: readable from the virtual CPL? (data, or readable code)."""
    r = _segment_rights(vcpu, _operand_value(vcpu, exit_, 0))
    readable = bool(r and r[1] & (1 << 12) and (not r[1] & (1 << 11) or r[1] & (1 << 9)))
    _set_zf(vcpu, bool(r and r[0] and readable))
    vcpu.skip()


def handle_verw(vcpu: VirtualCpu, exit_: Exit) -> None:
    """VERW: writable from the virtual CPL? (writable data only)."""
    r = _segment_rights(vcpu, _operand_value(vcpu, exit_, 0))
    writable = bool(r and r[1] & (1 << 12) and not r[1] & (1 << 11) and r[1] & (1 << 9))
    _set_zf(vcpu, bool(r and r[0] and writable))
    vcpu.skip()


def handle_int_callout(vcpu: VirtualCpu, exit_: Exit) -> None:
    """INT n met by the translator before it runs: step past it, then deliver through the guest
    IDT (the frame's return address is the next instruction, as for the hardware)."""
    insn = decoder().decode(exit_.raw, exit_.eip)
    vector = {"int3": 3, "into": 4}.get(insn.mnemonic) or operands(insn)[0].value
    vcpu.skip()
    vcpu.inject(vector, software=True)


def translation_handlers() -> HandlerTable:
    """vlab's table for binary translation: the software monitor's, plus the sensitive
    unprivileged instructions, which reach the monitor only as callouts."""
    table = default_handlers()
    for key, fn in {
        ExitReason.PUSHF: handle_pushf, ExitReason.POPF: handle_popf, "sgdt": handle_sgdt,
        "sidt": handle_sidt, "sldt": handle_sldt, "str": handle_str, ExitReason.SMSW: handle_smsw,
        ExitReason.SEGMENT_READ: handle_segment_read, "lar": handle_lar, "lsl": handle_lsl,
        "verr": handle_verr, "verw": handle_verw,
        (ExitReason.SOFTWARE_INTERRUPT, "callout"): handle_int_callout,
    }.items():
        table[key] = fn
    return table


# ------------------------------------------------------------------------ VT-x (root mode)
# Under the VT-x model a handler also sees the VMCS (``vcpu.vmcs``): exit information to read
# (qualification, instruction length, interruption information) and guest state to change.
def handle_cpuid(vcpu: VirtualCpu, exit_: Exit) -> None:
    """CPUID (always exits in VMX non-root): pass the host CPU's answer through."""
    from vlab.hw.core import host_cpuid

    eax, ebx, ecx, edx = host_cpuid(vcpu.regs.eax, vcpu.regs.ecx)
    vcpu.regs.eax, vcpu.regs.ebx, vcpu.regs.ecx, vcpu.regs.edx = eax, ebx, ecx, edx
    vcpu.skip()


def handle_cr_access(vcpu: VirtualCpu, exit_: Exit) -> None:
    """Control-register access exit (reason 28), decoded from the exit qualification: the guest's
    CRs are in the VMCS guest-state area; bits the host owns go to the read shadow."""
    cr = q.decode_cr(exit_.qualification)
    vmcs = vcpu.vmcs
    if cr.access_type == 0:  # MOV to CR
        value = vcpu.regs[cr.register]
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


def handle_rdtsc(vcpu: VirtualCpu, exit_: Exit) -> None:
    """RDTSC exit: the virtual time-stamp counter (virtual time, in guest instructions)."""
    tsc = vcpu.machine.vtime
    vcpu.regs.eax, vcpu.regs.edx = tsc & 0xFFFF_FFFF, tsc >> 32
    vcpu.skip()


KVM_ENOSYS = (-1000) & 0xFFFF_FFFF  # what KVM answers an unknown hypercall


def handle_vmcall(vcpu: VirtualCpu, exit_: Exit) -> None:
    """VMCALL (reason 18): a hypercall. vlab's monitor defines none: EAX = -KVM_ENOSYS."""
    vcpu.regs.eax = KVM_ENOSYS
    vcpu.skip()


def handle_exception_vmx(vcpu: VirtualCpu, exit_: Exit) -> None:
    """An exception the exception bitmap intercepts (reason 0): give it back to the guest by
    event injection on the next VM entry (SDM vol. 3, 26.6)."""
    from vlab.strategies.vtx.vmcs import (
        INTR_TYPE_HW_EXCEPTION,
        INTR_TYPE_SW_EXCEPTION,
        InterruptionInfo,
        intr_info,
    )

    if exit_.detail.get("page_fault") in ("hidden", "pt_write"):
        return  # the shadow page tables lacked a mapping: fixed in root mode, nothing to inject
    info = InterruptionInfo.decode(vcpu.vmcs["VM_EXIT_INTR_INFO"])
    if info.vector == 14:  # a true page fault: the guest reads CR2 natively (SDM 27.1: the
        vcpu.machine.cpu.set_reg("cr2", exit_.qualification)  # exit qualification is the address)
    kind = INTR_TYPE_SW_EXCEPTION if info.kind == INTR_TYPE_SW_EXCEPTION else INTR_TYPE_HW_EXCEPTION
    vcpu.vmcs["VM_ENTRY_INTR_INFO_FIELD"] = intr_info(info.vector, kind, info.error_code_valid)
    vcpu.vmcs["VM_ENTRY_EXCEPTION_ERROR_CODE"] = vcpu.vmcs["VM_EXIT_INTR_ERROR_CODE"]


def handle_external_interrupt_vmx(vcpu: VirtualCpu, exit_: Exit) -> None:
    """External interrupt (reason 1, the timer): acknowledge it and inject it into the guest
    with the VM-entry interruption-information field."""
    from vlab.strategies.vtx.vmcs import INTR_TYPE_EXTERNAL, InterruptionInfo, intr_info

    info = InterruptionInfo.decode(vcpu.vmcs["VM_EXIT_INTR_INFO"])
    vcpu.vmcs["VM_ENTRY_INTR_INFO_FIELD"] = intr_info(info.vector, INTR_TYPE_EXTERNAL)


def handle_triple_fault(vcpu: VirtualCpu, exit_: Exit) -> None:
    """Triple fault (reason 2): the guest is dead; the run stops with TripleFault."""


def handle_monitor_trap(vcpu: VirtualCpu, exit_: Exit) -> None:
    """Monitor trap flag (reason 37): one guest instruction has run; nothing to emulate."""


def handle_ept_violation(vcpu: VirtualCpu, exit_: Exit) -> None:
    """EPT violation (reason 48): the guest touched a guest-physical page the EPT does not map.
    vlab's hypervisor allocates guest RAM on demand: map the page (read, write, execute); the
    guest then retries the access (nothing to skip)."""
    vcpu.ept.map(vcpu.vmcs["GUEST_PHYSICAL_ADDRESS"])


def vmx_handlers() -> HandlerTable:
    """vlab's root-mode handler table for the VT-x model (keyed by Intel basic exit reason)."""
    return HandlerTable({
        ExitReason.CPUID: handle_cpuid, ExitReason.HLT: handle_hlt,
        ExitReason.IO_INSTRUCTION: handle_io, ExitReason.CR_ACCESS: handle_cr_access,
        ExitReason.RDMSR: handle_rdmsr, ExitReason.WRMSR: handle_wrmsr,
        ExitReason.INVLPG: handle_invlpg, ExitReason.RDTSC: handle_rdtsc,
        ExitReason.VMCALL: handle_vmcall, ExitReason.EXCEPTION_NMI: handle_exception_vmx,
        ExitReason.EXTERNAL_INTERRUPT: handle_external_interrupt_vmx,
        ExitReason.TRIPLE_FAULT: handle_triple_fault, ExitReason.MONITOR_TRAP_FLAG: handle_monitor_trap,
        ExitReason.EPT_VIOLATION: handle_ept_violation,
    })


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
        ExitReason.INVLPG: handle_invlpg, ExitReason.WBINVD: handle_nop, ExitReason.INVD: handle_nop,
        ExitReason.DR_ACCESS: handle_mov_dr,
        ExitReason.IRET: handle_iret, ExitReason.FAR_TRANSFER: handle_far_transfer,
        ExitReason.SEGMENT_LOAD: handle_segment_load,
        ExitReason.EXTERNAL_INTERRUPT: handle_external_interrupt,
        ExitReason.EXCEPTION_NMI: handle_exception,
        ExitReason.SOFTWARE_INTERRUPT: handle_software_interrupt,
    })
