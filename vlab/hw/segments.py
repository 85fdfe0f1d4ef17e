"""Segment checks on memory accesses, which Unicorn's core skips (it adds a segment's base and
nothing else):

- an access through DS, ES, FS or GS holding a null selector raises #GP(0) (SDM vol. 3A, 3.4.2
  "a null segment selector ... generates a #GP when memory is accessed");
- an access beyond a segment's limit raises #GP(0), or #SS(0) for the stack segment (SDM vol.
  3A, 5.3 "Limit Checking": offset + size - 1 > limit; for an expand-down segment the valid
  offsets are those *above* the limit).

Both situations are rare: a null selector appears when a return to an outer ring nulls a
register holding a more privileged segment (SDM vol. 2A, IRET and RET) or when the guest loads 0;
a segment narrower than 4 GiB only when the guest builds one (vlab's guests, and most OSes, use
flat segments). So the machine checks only while one is loaded: at the start of each slice it
looks at SS, DS, ES, FS and GS, and if one is null or narrow it hooks every instruction until none
is; the hook faults an instruction, before it runs, when one of its memory operands (or its own
stack access: PUSH, POP, CALL, RET, PUSHAD, POPAD, PUSHFD, POPFD, LEAVE) goes through such a
segment. The slice starts exactly where a register is about to become null or narrow: the checks
on MOV/POP to a segment register and on far returns and IRET (:mod:`vlab.hw.checks`), and a
monitor's own transfers and loads (:class:`vlab.hw.cpu.Cpu`), announce it with
:meth:`SegmentChecks.coming`. (The code segment's limit is not checked: see the README's "Known
differences".)

A segment register's limit is the one its descriptor had when it was loaded (the CPU caches
it); the machine reads each descriptor once per load of it that it sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlab import layout
from vlab.errors import GuestFault, VlabError
from vlab.hw.cpu import descriptor_limit
from vlab.isa import decoder, operands

if TYPE_CHECKING:
    from vlab.hw.machine import Machine

DATA_SEGMENTS = ("ds", "es", "fs", "gs")
_CHECKED = ("ss", *DATA_SEGMENTS)
#: A limit at least this high leaves nothing to check: the 64 KiB above it are the monitor's,
#: out of the guest's reach anyway (and a deprivileging monitor's shadow limits stop there).
FLAT = layout.MONITOR_BASE - 1
_NO_ACCESS = frozenset({"lea", "nop", "prefetch", "prefetchw", "prefetchnta", "prefetcht0",
                        "prefetcht1", "prefetcht2"})
#: Stack accesses an instruction makes on its own: (offset from ESP, bytes).
_STACK = {"push": (-4, 4), "pushal": (-32, 32), "pushfd": (-4, 4), "call": (-4, 4),
          "pop": (0, 4), "popal": (0, 32), "popfd": (0, 4), "ret": (0, 4)}


def limits_of(d: tuple[int, int] | None) -> tuple[int, int] | None:
    """The valid offsets [low, high] of a data segment's descriptor, or None when it is flat
    (or not a descriptor the machine can read: a null or LDT selector)."""
    if d is None:
        return None
    hi = d[1]
    limit = descriptor_limit(d)
    if hi & (1 << 12) and not hi & (1 << 11) and hi & (1 << 10):  # expand-down data
        return limit + 1, 0xFFFF_FFFF if hi & (1 << 22) else 0xFFFF
    return None if limit >= FLAT else (0, limit)


class SegmentChecks:
    """Checks accesses through null and narrow segments while one is loaded."""

    def __init__(self, machine: Machine):
        self._m = machine
        self._hook: int | None = None
        self._expected = False  # a segment register is about to become null or narrow
        self._flat: tuple[int, ...] | None = None  # selectors last seen all flat and non-null
        self._bounds: dict[tuple[int, int], tuple[int, int] | None] = {}  # (GDT, selector) ->
        self.refused = 0  # accesses refused with #GP(0) or #SS(0)
        self.armings = 0  # how often the per-instruction check was switched on

    @property
    def armed(self) -> bool:
        return self._hook is not None

    def narrow(self, selector: int, fresh: bool = False) -> tuple[int, int] | None:
        """The valid offsets of the segment ``selector`` names, None if it is flat (``fresh``:
        read its descriptor again, as a load does)."""
        cpu = self._m.cpu
        key = (cpu.gdtr()[0], selector & 0xFFFC)
        if fresh or key not in self._bounds:
            if len(self._bounds) > 4096:
                self._bounds.clear()
            self._bounds[key] = limits_of(cpu.descriptor(selector))
        return self._bounds[key]

    def nulled_by_return(self, ring: int) -> bool:
        """Will a return to the outer ``ring`` null one of DS, ES, FS, GS? (SDM vol. 2A, IRET
        and RET: a data or non-conforming code segment whose DPL is below the new CPL.)"""
        cpu = self._m.cpu
        selectors = [cpu.reg(seg) for seg in DATA_SEGMENTS]
        if all(sel & 3 >= ring or sel & 0xFFFC == 0 for sel in selectors):
            return False  # (a loaded data segment has DPL >= its selector's RPL: SDM vol. 2A,
            # MOV and POP: RPL > DPL is #GP; so none has DPL below ``ring``: nothing to read)
        for sel in selectors:
            d = cpu.descriptor(sel)
            if d is None:
                continue
            hi = d[1]
            conforming_code = hi & (1 << 11) and hi & (1 << 10)
            if hi & (1 << 12) and not conforming_code and (hi >> 13) & 3 < ring:
                return True
        return False

    def coming(self, before: bool) -> None:
        """From inside a hook: a segment register is about to become null or narrow
        (``before``: the instruction that loads it has not run yet). The slice ends there so
        that the next one starts with the checks armed."""
        if self._hook is not None:
            return
        self._expected = True
        self._m.clock.request_stop("resample", adjust=-1 if before else 0)

    def refresh(self) -> None:
        """At the start of a slice: arm while a segment register is (or is about to be) null
        or narrow, disarm once none is."""
        selectors = self._m.core.registers.stack_and_data_selectors()  # (_CHECKED's order)
        if selectors == self._flat and not self._expected:
            return  # (the common case: the same flat, non-null segments as last time)
        wanted = self._expected or any(s & 0xFFFC == 0 for s in selectors[1:]) \
            or any(self.narrow(s) for s in selectors)
        self._expected = False
        # a loaded segment keeps the descriptor it was loaded with (the CPU caches it): the
        # same selectors need no second look until one is loaded again (which sets _expected
        # when it matters)
        self._flat = None if wanted else selectors
        if wanted and self._hook is None:
            self._hook = self._m.core.on_execute(self._check)
            if self._m.core.blocks is not None:  # (no per-instruction helper: translate anew)
                self._m.core.flush()
            self.armings += 1
        elif not wanted and self._hook is not None:
            self._m.core.remove_hook(self._hook)
            self._hook = None

    def reset(self) -> None:
        if self._hook is not None:
            self._m.core.remove_hook(self._hook)
        self._hook, self._expected, self._flat = None, False, None
        self._bounds.clear()

    # ------------------------------------------------------------------ the check
    def _check(self, uc, address: int, size: int, _) -> None:
        m = self._m
        if address >= layout.MONITOR_BASE or m.cpu.eip != address:
            return  # the monitor's trampoline, or an instruction a monitor has emulated
        cpu = m.cpu
        bounds = {}
        for seg in _CHECKED:
            sel = cpu.reg(seg)
            if seg != "ss" and sel & 0xFFFC == 0:
                bounds[seg] = None  # null: no access at all
            elif (b := self.narrow(sel)) is not None:
                bounds[seg] = b
        if not bounds:
            return
        try:
            code = m.memory.code_bytes(address)
        except VlabError:
            return  # (its fetch faults on the core itself)
        try:
            insn = decoder().decode(code, address)
            if insn is None:
                return
            vector = self._violation(insn, bounds)
            if vector is not None:
                self.refused += 1
                m.clock.defer_fault(vector, 0)
        except VlabError as e:
            m.clock.fail(e)
        except Exception as e:  # a bug here must not kill the process
            m.clock.fail(GuestFault(f"internal error while checking segments: {e!r}", address))

    def _violation(self, insn, bounds: dict[str, tuple[int, int] | None]) -> int | None:
        """The exception the instruction raises (13 or 12) by its accesses, or None."""
        mn = insn.mnemonic.split()[-1]
        if mn in _NO_ACCESS:
            return None
        if insn.mnemonic.startswith("rep") and self._m.cpu.reg("ecx") == 0:
            return None  # no iteration: no access
        for op in operands(insn):
            if op.kind != "mem":
                continue
            seg = op.segment or ("ss" if op.base in ("esp", "ebp") else "ds")
            if seg in bounds and not self._inside(bounds[seg], self._m.cpu.operand_offset(op), op.size or 1):
                return 12 if seg == "ss" else 13
        if "ss" in bounds and mn in _STACK or mn == "leave":
            esp = self._m.cpu.reg("ebp" if mn == "leave" else "esp")
            delta, size = _STACK.get(mn, (0, 4))
            if mn in ("push", "pop") and operands(insn) and operands(insn)[0].size == 2:
                delta, size = (-2, 2) if mn == "push" else (0, 2)
            if not self._inside(bounds["ss"], (esp + delta) & 0xFFFF_FFFF, size):
                return 12
        return None

    @staticmethod
    def _inside(bounds: tuple[int, int] | None, offset: int, size: int) -> bool:
        if bounds is None:
            return False
        low, high = bounds
        return low <= offset and offset + size - 1 <= high
