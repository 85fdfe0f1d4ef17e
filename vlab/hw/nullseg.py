"""Null data-segment selectors: an access through DS, ES, FS or GS holding a null selector raises
#GP(0) (SDM vol. 3A, 3.4.2 "a null segment selector ... generates a #GP when memory is
accessed"), which Unicorn's core never checks: in protected mode it uses the null segment's base
of 0 and lets the access through.

A null selector in a data segment register is rare: a return to an outer ring nulls one that
holds a more privileged segment (SDM vol. 2A, IRET and RET), or the guest loads 0 itself. So the
machine checks only while one is loaded: at the start of each slice it looks at the four
registers and, if one holds a null selector, hooks every instruction until none does; the hook
faults an instruction with #GP(0), before it runs, when one of its memory operands goes through
a null segment. The slice starts exactly where a register is about to become null: the checks on
MOV/POP to a segment register and on far returns and IRET to an outer ring
(:mod:`vlab.hw.checks`), and a monitor's own transfers and loads (:class:`vlab.hw.cpu.Cpu`),
announce it with :meth:`NullSegments.coming`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlab import layout
from vlab.errors import GuestFault, VlabError
from vlab.isa import decoder, operands

if TYPE_CHECKING:
    from vlab.hw.cpu import Cpu
    from vlab.hw.machine import Machine

DATA_SEGMENTS = ("ds", "es", "fs", "gs")
_NO_ACCESS = frozenset({"lea", "nop", "prefetch", "prefetchw", "prefetchnta", "prefetcht0",
                        "prefetcht1", "prefetcht2"})


def nulled_by_return(cpu: Cpu, ring: int) -> bool:
    """Will a return to the outer ``ring`` null one of DS, ES, FS, GS? (SDM vol. 2A, IRET and
    RET: a data or non-conforming code segment whose DPL is below the new CPL.)"""
    for seg in DATA_SEGMENTS:
        d = cpu.descriptor(cpu.reg(seg))
        if d is None:
            continue
        hi = d[1]
        conforming_code = hi & (1 << 11) and hi & (1 << 10)
        if hi & (1 << 12) and not conforming_code and (hi >> 13) & 3 < ring:
            return True
    return False


class NullSegments:
    """Checks the accesses through null data-segment selectors while one is loaded."""

    def __init__(self, machine: Machine):
        self._m = machine
        self._hook: int | None = None
        self._expected = False  # a segment register is about to become null
        self.refused = 0  # accesses refused with #GP(0)

    @property
    def armed(self) -> bool:
        return self._hook is not None

    def coming(self, before: bool) -> None:
        """From inside a hook: a segment register is about to become null (``before``: the
        instruction that nulls it has not run yet). The slice ends there so that the next one
        starts with the check armed."""
        if self._hook is not None:
            return
        self._expected = True
        self._m.clock.request_stop("resample", adjust=-1 if before else 0)

    def refresh(self) -> None:
        """At the start of a slice: arm while a data segment register holds (or is about to
        hold) a null selector, disarm once none does."""
        cpu = self._m.cpu
        null = self._expected or any(cpu.reg(s) & 0xFFFC == 0 for s in DATA_SEGMENTS)
        self._expected = False
        if null and self._hook is None:
            self._hook = self._m.core.on_execute(self._check)
        elif not null and self._hook is not None:
            self._m.core.remove_hook(self._hook)
            self._hook = None

    def reset(self) -> None:
        if self._hook is not None:
            self._m.core.remove_hook(self._hook)
        self._hook, self._expected = None, False

    def _check(self, uc, address: int, size: int, _) -> None:
        m = self._m
        if address >= layout.MONITOR_BASE or m.cpu.eip != address:
            return  # the monitor's trampoline, or an instruction a monitor has emulated
        cpu = m.cpu
        nulls = [s for s in DATA_SEGMENTS if cpu.reg(s) & 0xFFFC == 0]
        if not nulls:
            return
        try:
            code = m.memory.code_bytes(address)
        except VlabError:
            return  # (its fetch faults on the core itself)
        try:
            insn = decoder().decode(code, address)
            if insn is None or insn.mnemonic.split()[-1] in _NO_ACCESS:
                return
            if insn.mnemonic.startswith("rep") and cpu.reg("ecx") == 0:
                return  # no iteration: no access
            for op in operands(insn):
                if op.kind != "mem":
                    continue
                seg = op.segment or ("ss" if op.base in ("esp", "ebp") else "ds")
                if seg in nulls:
                    self.refused += 1
                    m.clock.defer_fault(13, 0)
                    return
        except VlabError as e:
            m.clock.fail(e)
        except Exception as e:  # a bug here must not kill the process
            m.clock.fail(GuestFault(f"internal error while checking segments: {e!r}", address))
