"""Binary translation's handlers: the sensitive instructions that never trap.

PUSHF, POPF, SGDT, SIDT, SLDT, STR, SMSW, reads of segment registers, LAR, LSL, VERR, VERW and
INT n do not fault at CPL 1 (Robin & Irvine's holes), so under trap-and-emulate the guest sees the
real machine. The translator finds them before they run and makes each a callout into one of
these handlers, which computes what the instruction would do on a CPU whose state is the
*virtual* one. Same signature as every handler: ``handler(vcpu, exit) -> None``.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from vlab.hw.cpu import descriptor_limit
from vlab.isa import operands
from vlab.monitor.handlers import (
    HandlerTable,
    default_handlers,
    effective_address,
    instruction_of,
    operand_value,
    stack_operand_size,
)
from vlab.monitor.trace import Exit, ExitReason
from vlab.state import IF, IOPL_MASK, OF, TableRegister

if TYPE_CHECKING:
    from vlab.monitor.vcpu import VirtualCpu


# ------------------------------------------------------------------------ sensitive instructions
# Under binary translation these never trap: the translator turned them into callouts, and each
# handler computes what the instruction would do on a CPU whose state is the *virtual* one.
def _write_operand(vcpu: VirtualCpu, exit_: Exit, index: int, value: int) -> None:
    insn = instruction_of(exit_)
    op = operands(insn)[index]
    if op.kind == "reg":
        vcpu.regs[op.reg] = value
    else:
        size = op.size or 4
        vcpu.mem.write(effective_address(vcpu, exit_, index), (value & ((1 << 8 * size) - 1))
                       .to_bytes(size, "little"))


def handle_pushf(vcpu: VirtualCpu, exit_: Exit) -> None:
    """PUSHF: push EFLAGS with the *virtual* IF and IOPL (the real ones would be a hole); PUSHFW
    pushes the low 16 bits."""
    size = stack_operand_size(instruction_of(exit_))
    esp = (vcpu.regs.esp - size) & 0xFFFF_FFFF
    flags = vcpu.guest_eflags() & ~0x30000  # VM and RF are never pushed
    vcpu.mem.write(esp, (flags & ((1 << 8 * size) - 1)).to_bytes(size, "little"))
    vcpu.regs.esp = esp
    vcpu.skip()


def handle_popf(vcpu: VirtualCpu, exit_: Exit) -> None:
    """POPF: the virtual IF and IOPL take the popped values (at virtual CPL 0 both may change),
    so interrupts really are disabled or enabled as the kernel asks; the real IF stays set."""
    esp = vcpu.regs.esp
    size = stack_operand_size(instruction_of(exit_))
    value = vcpu.mem.u32(esp) if size == 4 else \
        (vcpu.guest_eflags() & 0xFFFF_0000) | vcpu.mem.u16(esp)  # POPFW: the low 16 bits only
    if vcpu.virt.CPL <= vcpu.virt.IOPL:
        vcpu.virt.IF = bool(value & IF)
    if vcpu.virt.CPL == 0:
        vcpu.virt.IOPL = (value & IOPL_MASK) >> 12
    real = vcpu.regs.eflags
    # real IF/IOPL stay the monitor's; RF, VM, VIF and VIP are not POPF's to change, and the
    # rest is what POPF loads in protected mode (SDM vol. 2, POPF: EFLAGS AND 257FD5H)
    keep = IF | IOPL_MASK | 0x1B0000
    vcpu.regs.eflags = (real & keep) | (value & ~keep & 0x247FD5) | 0x2
    vcpu.regs.esp = esp + size
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
    insn = instruction_of(exit_)
    op = operands(insn)[0]
    value = vcpu.virt.CR0 & 0xFFFF
    if op.kind == "reg" and op.size == 4:
        value |= vcpu.regs[op.reg] & 0xFFFF_0000
    _write_operand(vcpu, exit_, 0, value)
    vcpu.skip()


def handle_segment_read(vcpu: VirtualCpu, exit_: Exit) -> None:
    """MOV r/m, Sreg and PUSH Sreg: the selector the guest believes in (RPL 0 for its kernel)."""
    insn = instruction_of(exit_)
    ops = operands(insn)
    if insn.mnemonic == "push":
        size = stack_operand_size(insn)
        esp = (vcpu.regs.esp - size) & 0xFFFF_FFFF
        vcpu.mem.write(esp, vcpu.to_virtual(vcpu.regs[ops[0].reg]).to_bytes(4, "little")[:size])
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
    hi = d[1]
    dpl, conforming_code = (hi >> 13) & 3, (hi & 0x1C00) == 0x1C00
    ok = conforming_code or dpl >= max(vcpu.virt.CPL, selector & 3)
    return ok, hi, descriptor_limit(d)


def _set_zf(vcpu: VirtualCpu, on: bool) -> None:
    flags = vcpu.regs.eflags
    vcpu.regs.eflags = (flags | 0x40) if on else (flags & ~0x40)


#: System descriptor types LAR and LSL accept (SDM vol. 2A, LAR and LSL: TSSs and the LDT; LAR
#: also call and task gates); interrupt and trap gates never.
LAR_SYSTEM_TYPES = frozenset({0x1, 0x2, 0x3, 0x4, 0x5, 0x9, 0xB, 0xC})
LSL_SYSTEM_TYPES = frozenset({0x1, 0x2, 0x3, 0x9, 0xB})


def _load_if_accessible(vcpu: VirtualCpu, exit_: Exit, value, system_types) -> None:
    """LAR/LSL: if the guest's descriptor is usable at the virtual CPL, load ``value(rights)``
    into the destination and set ZF; otherwise clear ZF."""
    r = _segment_rights(vcpu, operand_value(vcpu, exit_, 1))
    if r and r[0] and (r[1] & (1 << 12) or (r[1] >> 8) & 0xF in system_types):
        _write_operand(vcpu, exit_, 0, value(r))
        _set_zf(vcpu, True)
    else:
        _set_zf(vcpu, False)
    vcpu.skip()


def handle_lar(vcpu: VirtualCpu, exit_: Exit) -> None:
    """LAR: access rights from the *guest's* descriptor, judged at the virtual CPL."""
    _load_if_accessible(vcpu, exit_, lambda r: r[1] & 0x00F0FF00, LAR_SYSTEM_TYPES)


def handle_lsl(vcpu: VirtualCpu, exit_: Exit) -> None:
    """LSL: the segment limit from the guest's descriptor, judged at the virtual CPL."""
    _load_if_accessible(vcpu, exit_, lambda r: r[2], LSL_SYSTEM_TYPES)


def handle_verr(vcpu: VirtualCpu, exit_: Exit) -> None:
    """VERR: readable from the virtual CPL? (data, or readable code)."""
    r = _segment_rights(vcpu, operand_value(vcpu, exit_, 0))
    readable = bool(r and r[1] & (1 << 12) and (not r[1] & (1 << 11) or r[1] & (1 << 9)))
    _set_zf(vcpu, bool(r and r[0] and readable))
    vcpu.skip()


def handle_verw(vcpu: VirtualCpu, exit_: Exit) -> None:
    """VERW: writable from the virtual CPL? (writable data only)."""
    r = _segment_rights(vcpu, operand_value(vcpu, exit_, 0))
    writable = bool(r and r[1] & (1 << 12) and not r[1] & (1 << 11) and r[1] & (1 << 9))
    _set_zf(vcpu, bool(r and r[0] and writable))
    vcpu.skip()


def handle_int_callout(vcpu: VirtualCpu, exit_: Exit) -> None:
    """INT n met by the translator before it runs: step past it, then deliver through the guest
    IDT (the frame's return address is the next instruction, as for the hardware)."""
    insn = instruction_of(exit_)
    vector = {"int3": 3, "into": 4}.get(insn.mnemonic) or operands(insn)[0].value
    vcpu.skip()
    if vector == 4 and insn.mnemonic == "into" and not vcpu.regs.eflags & OF:
        return  # INTO with OF clear does nothing (SDM vol. 2A, INT n/INTO/INT3/INT1)
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
