"""Finding guest code before it runs, and hooking exactly the instructions that matter.

Shared by binary translation (which calls out on every privileged or sensitive instruction) and
the VT-x model (which intercepts only the instructions the VMCS controls can make exit). Code is
decoded block by block (:mod:`vlab.monitor.translator`) when control can first reach it; the chosen
instructions get a monitor callback at their exact address, indirect branches get a lookup that
scans their target, and writes to scanned code drop the stale blocks. Nothing else is hooked, so
the rest of the guest runs at full core speed.
"""

from __future__ import annotations

import copy
import ctypes
import dataclasses

from vlab import layout
from vlab.errors import GuestFault, VlabError
from vlab.isa import Instruction, operands
from vlab.monitor.trace import COSTS, Exit, ExitReason
from vlab.monitor.translator import TranslatedBlock, TranslationCache, is_indirect, translate


class CodeScanner:
    """Mixin for a strategy: ``needs_callout(insn)`` picks the instructions to hook and
    ``callout(insn)`` handles one when it is about to run. Needs ``self.machine``,
    ``self.trace``, ``self.vcpu`` and ``self.name`` (a :class:`Monitor`)."""

    profile = False
    charge_translation = True

    def attach(self, machine, trace) -> None:
        super().attach(machine, trace)
        machine.slice_ended.connect(lambda _: self._drop_stale())
        machine.slice_ended.connect(lambda _: self._uncount_unrun())

    def init_scanner(self, profile: bool = False) -> None:
        self.cache = TranslationCache()
        self.profile = profile  # count block executions (natively, or a hook per block)
        self._hooks: dict[int, int] = {}  # guest address -> Unicorn hook (callouts, lookups)
        self._entry_hooks: dict[int, int] = {}  # block start -> profiling hook
        self._cells: dict[int, ctypes.c_uint64] = {}  # block start -> its native count
        self._counted_at: tuple[int, int] | None = None  # (a hook's count: address, counter)
        self._smc_hook: int | None = None
        self._smc_span: tuple[int, int] | None = None
        self._retranslate: dict[int, int] = {}  # invalidated range start -> trap-on-entry hook
        self._retranslate_end: dict[int, int] = {}
        self._stale: list[tuple[int, int]] = []  # core translations to drop after this slice

    # ------------------------------------------------------------------ snapshots
    def save_state(self) -> dict:
        """The translation cache (blocks, counters) and the ranges waiting to be rescanned."""
        self._collect_counts()
        ranges = [(start, self._retranslate_end[start]) for start in self._retranslate]
        return {**super().save_state(), "cache": copy.deepcopy(self.cache), "rescan": ranges}

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        core = self.machine.core
        for block in list(self.cache):
            self._uninstall(block)
        for h in self._retranslate.values():
            core.remove_hook(h)
        self._retranslate.clear()
        self._retranslate_end.clear()
        self.cache = copy.deepcopy(state["cache"])
        for block in self.cache:
            self._install(block)
        for start, end in state["rescan"]:
            self._watch_rescan(start, end)
        self._smc_span = None
        self._cover_for_writes()

    # ------------------------------------------------------------------ what to hook
    def needs_callout(self, insn: Instruction) -> str | None:
        raise NotImplementedError

    def callout(self, insn: Instruction) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ scanning
    def ensure_translated(self, address: int) -> None:
        """Scan the code reachable from ``address`` unless the cache has it (a lookup)."""
        if self.cache.covers(address):
            self.cache.hits += 1
            return
        if not 0 <= address < self.machine.memory.ram_size:
            return  # outside guest RAM: the core reports the access, nothing to translate
        self.cache.misses += 1
        new = translate(self.machine.memory.code_bytes, address, self.cache, self.needs_callout)
        for block in new:
            self._install(block)
        if new:
            if self.charge_translation:
                self.trace.charge("translation", sum(len(b.instructions) for b in new)
                                  * COSTS["translate_insn"].cycles)
            self._cover_for_writes()

    def _install(self, block: TranslatedBlock) -> None:
        core = self.machine.core
        for insn in block.instructions:
            addr = insn.address
            if addr in self._hooks:
                continue
            if addr in block.callouts:
                self._hooks[addr] = core.on_execute(self._on_callout, addr, addr, insn)
            elif is_indirect(insn):
                self._hooks[addr] = core.on_execute(self._lookup, addr, addr, insn)
        if self.profile and block.address not in self._entry_hooks:
            block.executions = block.executions or 0
            # natively where the core can (a counter in C that the native counter's block hook
            # adds to, read when someone looks: no call per execution) ...
            cell = ctypes.c_uint64(0)
            hook = core.count_executions(block.address, cell)
            if hook is not None:
                self._cells[block.address] = cell
                self._entry_hooks[block.address] = hook
            elif block.address not in block.callouts:  # ... else a Python hook (a block that
                # starts with a callout is counted by the callout's hook: a hook after one that
                # moves EIP never runs)
                self._entry_hooks[block.address] = core.on_execute(
                    self._count_block, block.address, block.address)
        self._forget_core_translation(block.address, block.end)

    def _forget_core_translation(self, start: int, end: int) -> None:
        """The core must re-translate [start, end) to see new hooks. Never from inside a hook
        (dropping the block being executed disturbs Unicorn's instruction count): in a counted
        slice new hooks work at once anyway; in a free-running one, or counted by blocks where
        the block being executed would run into the range, the slice ends first."""
        m = self.machine
        if not m.clock.in_slice:
            m.core.forget_code(start, end)
            return
        if m.clock.counting:
            return
        blocks = m.core.blocks
        if blocks is not None and not blocks.runs_ahead(m.cpu.eip, start, end):
            # (counting by blocks, no hook per instruction: the core re-translates [start,
            # end) before it runs there, unless the block it is executing runs into it)
            m.core.forget_code(start, end)
            return
        self._stale.append((start, end))
        m.clock.resample()

    def _drop_stale(self) -> None:
        for start, end in self._stale:
            self.machine.core.forget_code(start, end)
        self._stale.clear()

    def _uninstall(self, block: TranslatedBlock) -> None:
        core = self.machine.core
        for insn in block.instructions:
            h = self._hooks.pop(insn.address, None)
            if h is not None:
                core.remove_hook(h)
        h = self._entry_hooks.pop(block.address, None)
        if h is not None:
            core.remove_hook(h)
        cell = self._cells.pop(block.address, None)
        if cell is not None:
            self._collect(block.address, cell)

    @property
    def translations(self) -> list[TranslatedBlock]:
        self._collect_counts()
        return list(self.cache)

    def _collect_counts(self) -> None:
        """Add what the native execution counters counted since last time to their blocks."""
        self.machine.core.flush_counts()
        for address, cell in self._cells.items():
            self._collect(address, cell)

    def _collect(self, address: int, cell: ctypes.c_uint64) -> None:
        self.machine.core.flush_counts()
        if cell.value:
            block = self.cache.blocks.get(address)
            if block is not None and block.executions is not None:
                block.executions += cell.value
            cell.value = 0

    def entered_kernel(self) -> None:
        self.scan_next_entry()

    def scan_next_entry(self) -> None:
        """Wherever an exit sent the kernel (an interrupt handler, an IRET's target, a far
        jump's), that code must be scanned before it runs."""
        cpu = self.machine.cpu
        if self.machine.monitor is not self:
            return  # (another monitor's guest runs now: nested VMX's L2 is its driver's)
        fast = self.machine.core.registers
        eip = fast.eip()
        if eip != layout.TRAMPOLINE:  # (at every exit: the common case read in place)
            if fast.cpl() != 3:
                self.ensure_translated((cpu.code_base() + eip) & 0xFFFF_FFFF)
            return
        cs, eip = cpu.next_guest_entry()
        if cs & 3 != 3:  # (the trampoline loads CS next)
            self.ensure_translated((cpu.segment_base(cs) + eip) & 0xFFFF_FFFF)

    # ------------------------------------------------------------------ the core's callbacks
    def _guard(self, address: int, fn, *args) -> None:
        try:
            fn(*args)
        except Exception as e:  # reported as the run's error, never a crash of the process
            self.machine.clock.fail(e if isinstance(e, VlabError)
                               else GuestFault(f"monitor callback failed: {e!r}", address))

    def _on_callout(self, uc, address: int, size: int, insn: Instruction) -> None:
        cpu = self.machine.cpu
        if cpu.cpl() == 3 or self.machine.monitor is not self:  # user code is not scanned: it
            return  # runs as it is (nor code another monitor runs now: nested VMX's levels)
        base = cpu.code_base()
        if (base + self.machine.core.registers.eip()) & 0xFFFF_FFFF != address:
            return  # an earlier hook here already took the guest elsewhere (a nested VM exit)
        if self.machine.hooks.breakpoint_due(address):
            return  # the student's breakpoint comes first: stop before the instruction
        if self.profile and address not in self._entry_hooks:
            self._count_block(uc, address, size, None)
        if base:  # code in a segment with a base: scanned by linear address, run by offset
            insn = dataclasses.replace(insn, address=(insn.address - base) & 0xFFFF_FFFF)
        self._guard(address, self.callout, insn)

    def _count_block(self, uc, address: int, size: int, _: object) -> None:
        """(Counting by hooks, without the native counter.) The block's first instruction is
        about to run, unless a later hook at it stops the guest first (an interrupt the guest
        has just enabled, a breakpoint): then :meth:`_uncount_unrun` takes the count back."""
        block = self.cache.blocks.get(address)
        if block is not None and block.executions is not None and self.machine.cpu.cpl() != 3:
            block.executions += 1
            self._counted_at = (address, self.machine.core.counter.value)

    def _uncount_unrun(self) -> None:
        """The slice ended: if it stopped right before a block start counted by a hook, with no
        instruction run since, that execution did not happen."""
        counted, self._counted_at = self._counted_at, None
        if counted is not None and counted == (self.machine.cpu.eip,
                                               self.machine.core.counter.value):
            block = self.cache.blocks.get(counted[0])
            if block is not None and block.executions:
                block.executions -= 1

    def _lookup(self, uc, address: int, size: int, insn: Instruction) -> None:
        """An indirect branch (RET, JMP/CALL through a register or memory): is its target
        scanned? (Real translators do this lookup inside the translated code.)"""
        if self.machine.cpu.cpl() == 3 or self.machine.monitor is not self:
            return
        if self.charge_translation:  # a translator pays this lookup on every indirect branch
            self.trace.charge("indirect branch", COSTS["indirect_branch"].cycles)

        def check() -> None:
            target = self._indirect_target(insn)
            if target is not None:
                cpu = self.machine.cpu
                self.ensure_translated((cpu.code_base() + target) & 0xFFFF_FFFF)

        self._guard(address, check)

    def _indirect_target(self, insn: Instruction) -> int | None:
        from vlab.monitor.handlers import operand_address

        v = self.vcpu
        if insn.mnemonic == "ret":
            return v.mem.u32(v.regs.esp)
        op = operands(insn)[0]
        if op.kind == "reg":
            return v.regs[op.reg]
        if op.kind == "mem":
            return v.mem.u32(operand_address(v, insn))
        return None

    # ------------------------------------------------------------------ self-modifying code
    def _cover_for_writes(self) -> None:
        """Watch guest writes to the span of scanned code (only that span: a store elsewhere
        never reaches Python)."""
        if not self.cache.blocks:
            return
        lo = min(b.address for b in self.cache.blocks.values())
        hi = max(b.end for b in self.cache.blocks.values())
        if self._smc_span == (lo, hi):
            return
        core = self.machine.core
        if self._smc_hook is not None:
            core.remove_hook(self._smc_hook)
        self._smc_hook = core.on_write(self._on_code_write, lo, hi - 1)
        self._smc_span = (lo, hi)

    def _on_code_write(self, uc, access: int, address: int, size: int, value: int, _: object) -> None:
        blocks = self.cache.overlapping(address, address + size)
        if not blocks:
            return  # data between code, not code
        m = self.machine
        for block in blocks:
            self._uninstall(block)
            self.cache.remove(block)
            self._watch_rescan(block.address, block.end)
        if not self.charge_translation:
            return  # (VT-x scans code only to model its controls: no exit, nothing to report)
        # a translator write-protects the pages it translated: this write was a trace fault
        self.report_exit(Exit(ExitReason.CODE_MODIFIED, m.cpu.eip, self.name, self.vcpu.virt.CPL,
                              handler="translation_cache.invalidate", index=self.trace.total,
                              cost=COSTS["trap"].cycles, kind="trap",
                              detail={"written": address, "size": size,
                                      "blocks": [b.address for b in blocks]}))

    def _watch_rescan(self, start: int, end: int) -> None:
        """Scan [start, end) anew when the guest next executes there."""
        # (from the guest's store into [start, end): the core translates that code anew itself)
        self._retranslate[start] = self.machine.core.on_execute(self._on_reentry, start, end - 1,
                                                                start, retranslate=False)
        self._retranslate_end[start] = end

    def _on_reentry(self, uc, address: int, size: int, start: int) -> None:
        """First instruction executed in a range whose scan was dropped: scan it anew."""
        h = self._retranslate.pop(start, None)
        self._retranslate_end.pop(start, None)
        if h is not None:
            self.machine.core.remove_hook(h)
        if self.machine.cpu.cpl() != 3:
            self._guard(address, self.ensure_translated, address)
