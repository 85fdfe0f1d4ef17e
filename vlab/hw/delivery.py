"""Interrupt and exception delivery through the guest's IDT, done in Python.

Unicorn never delivers through the guest IDT: an ``int n`` or a fault reaches ``UC_HOOK_INTR``
*instead* (no gate check, no ring switch, no stack switch). So vlab does what the CPU would
(Intel SDM vol. 3, 6.12 "Exception and interrupt handling"): read the gate, check its DPL for
software interrupts, switch to the inner stack from the TSS, push the frame and the error code,
clear IF for interrupt gates, and load CS:EIP. A monitor's ``inject`` is exactly the same act.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from vlab.errors import InvalidOpcode, TripleFault
from vlab.hw.paging import PageFault
from vlab.state import IF, NT, RF, TF, VM

if TYPE_CHECKING:
    from vlab.hw.machine import Machine

#: Exceptions that push an error code (SDM vol. 3, table 6-1).
ERROR_CODE_VECTORS = frozenset({8, 10, 11, 12, 13, 14, 17})
EXCEPTION_NAMES = {
    0: "#DE divide error", 1: "#DB debug", 2: "NMI", 3: "#BP breakpoint", 4: "#OF overflow",
    5: "#BR bound", 6: "#UD invalid opcode", 7: "#NM no FPU", 8: "#DF double fault",
    10: "#TS invalid TSS", 11: "#NP segment not present", 12: "#SS stack fault",
    13: "#GP general protection", 14: "#PF page fault", 16: "#MF FPU error", 17: "#AC alignment",
    18: "#MC machine check", 19: "#XM SIMD",
}
_GATE_INTERRUPT, _GATE_TRAP = 0xE, 0xF


def vector_name(vector: int) -> str:
    return EXCEPTION_NAMES.get(vector, f"vector {vector:#x}")


#: Why one delivery attempt failed: the fault to raise instead (vector, error code, reason).
Failure = tuple[int, int, str]


def deliver(m: Machine, vector: int, error_code: int | None = None, software: bool = False) -> int:
    """Deliver one event through the guest IDT as the CPU would; returns the vector delivered
    (a failed delivery escalates to #GP, #DF and finally a triple fault, as on hardware)."""
    return escalate(lambda v, c, soft: _deliver_once(m, v, c, soft), m, vector, error_code,
                    software)


def escalate(attempt: Callable[[int, int | None, bool], Failure | None], m: Machine,
             vector: int, error_code: int | None, software: bool) -> int:
    """Try ``attempt(vector, error_code, software)``; while it fails, deliver what the CPU
    would raise instead (SDM vol. 3, 6.15 "Interrupt 8 - double fault"): a fault while
    delivering an exception becomes #DF, one while delivering #DF a triple fault. Returns the
    vector finally delivered."""
    chain: list[str] = []
    kind = "software" if software else ("exception" if vector < 32 else "external")
    while True:
        try:
            failure = attempt(vector, error_code, kind == "software")
        except PageFault as pf:  # the IDT, the TSS or the new stack is not mapped: a #PF
            m.cpu.set_reg("cr2", pf.address)
            m.monitor.page_fault_raised(pf.address)
            failure = (14, pf.error_code, f"page fault at {pf.address:#010x} while delivering")
        if failure is None:
            return vector
        chain.append(f"{vector_name(vector)}: {failure[2]}")
        if kind == "exception" and vector == 6:
            raise InvalidOpcode("invalid opcode (#UD) and the guest has no #UD handler: "
                                + failure[2], m.clock.fault_eip, m.clock.fault_text)
        if kind == "exception" and vector == 8:
            raise TripleFault("triple fault: " + "; then ".join(chain), m.clock.fault_eip, m.clock.fault_text)
        vector, error_code = (8, 0) if kind == "exception" else failure[:2]
        kind = "exception"


@dataclass(frozen=True)
class Gate:
    """A usable IDT gate: where it sends the event, and whether it clears IF."""

    selector: int
    offset: int
    interrupt: bool  # an interrupt gate (IF cleared), not a trap gate


def read_gate(m: Machine, base: int, limit: int, vector: int, software: bool,
              cpl: int) -> Gate | Failure:
    """The gate for ``vector`` in the IDT at ``base``/``limit``, checked as the CPU checks it
    (SDM vol. 3, 6.12.1), or the fault the CPU raises instead. (The machine passes the real IDTR
    and CPL, a monitor's inject the guest's virtual ones.)"""
    if limit < 7:
        if vector == 6 and not software:
            raise InvalidOpcode("invalid opcode (#UD), and the guest has no IDT to handle it",
                                m.clock.fault_eip, m.clock.fault_text)
        raise TripleFault(f"{vector_name(vector)} with no usable IDT (the guest has not loaded one "
                          "with LIDT)", m.clock.fault_eip, m.clock.fault_text)
    gate_err = vector * 8 + 2  # error code naming an IDT entry (SDM 6.13)
    if vector * 8 + 7 > limit:
        return (13, gate_err, f"vector {vector:#x} is beyond the IDT limit {limit:#x}")
    lo, hi = struct.unpack("<II", m.memory.read_linear(base + vector * 8, 8))
    gtype, dpl, present = (hi >> 8) & 0x1F, (hi >> 13) & 3, (hi >> 15) & 1
    if not present:
        return (11, gate_err, f"IDT gate {vector:#x} is not present")
    if gtype not in (_GATE_INTERRUPT, _GATE_TRAP):
        return (13, gate_err, f"IDT gate {vector:#x} has type {gtype:#x} "
                        "(vlab supports 32-bit interrupt and trap gates)")
    if software and dpl < cpl:
        return (13, gate_err, f"int {vector:#x} from CPL {cpl} but the gate's DPL is {dpl}")
    return Gate((lo >> 16) & 0xFFFF, (hi & 0xFFFF0000) | (lo & 0xFFFF),
                gtype == _GATE_INTERRUPT)


def _deliver_once(m: Machine, vector: int, error_code: int | None,
                  software: bool) -> Failure | None:
    cpl = m.cpu.cpl()
    gate = read_gate(m, *m.cpu.idtr(), vector, software, cpl)
    if not isinstance(gate, Gate):
        return gate
    selector, offset = gate.selector, gate.offset
    target_dpl = m.cpu.code_segment_dpl(selector)
    if target_dpl is None:
        return (13, selector & 0xFFFC, f"IDT gate {vector:#x} names {selector:#x}, "
                        "which is not a present code segment")
    if target_dpl > cpl:
        return (13, selector & 0xFFFC, "an interrupt cannot go to an outer ring")
    regs = m.cpu.regs_for_delivery()
    eflags, esp, old_cs, old_ss, eip = regs["eflags"], regs["esp"], regs["cs"], regs["ss"], regs["eip"]
    frame = [eflags, old_cs, eip] + ([error_code] if error_code is not None else [])
    if target_dpl < cpl:
        new_ss, new_esp = m.cpu.tss_stack(target_dpl)
        frame = [old_ss, esp] + frame
    else:
        new_ss, new_esp = old_ss, esp
    new_esp = (new_esp - 4 * len(frame)) & 0xFFFF_FFFF
    m.memory.write_linear(new_esp, struct.pack(f"<{len(frame)}I", *reversed(frame)))
    new_flags = eflags & ~(TF | NT | RF | VM)
    if gate.interrupt:
        new_flags &= ~IF
    m.cpu.enter(cs=(selector & 0xFFFC) | target_dpl, eip=offset, ss=new_ss, esp=new_esp,
            eflags=new_flags)
    return None
