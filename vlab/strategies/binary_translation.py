"""Binary translation: the holes closed by rewriting the kernel's code before it runs.

The unmodified kernel runs deprivileged in ring 1 as under trap-and-emulate, but the monitor
translates its code first (``vlab.translator``): every privileged or sensitive instruction of a
block becomes a *callout* into the monitor, which emulates it on the virtual CPU. POPF now sets
the *virtual* IF (and lets a pending timer interrupt in), PUSHF shows it, SMSW/SGDT/SIDT/SLDT/STR
show the virtual registers, ``mov eax, cs`` shows CPL 0, LAR/LSL/VERR/VERW judge the guest's own
descriptors at the virtual CPL. The kernel's output and final state equal native's exactly.

User code at ring 3 is not translated: it runs directly, as in VMware's design (Adams & Agesen,
ASPLOS 2006). A callout is far cheaper than a trap (no fault, no IDT, no IRET); a block's
translation is paid once, then the translation cache serves it. When the guest writes to code the
translator has translated, the affected blocks are dropped and translated again when next reached.
"""

from __future__ import annotations

import unicorn

from ..handlers import HandlerTable, translation_handlers
from ..isa import Instruction
from ..trace import COSTS, Exit, ExitReason
from ..translator import TranslatedBlock, TranslationCache, is_indirect, translate
from .monitor import SoftwareMonitor

_SENSITIVE_REASONS = {
    "pushf": ExitReason.PUSHF, "pushfd": ExitReason.PUSHF, "popf": ExitReason.POPF,
    "popfd": ExitReason.POPF, "sgdt": ExitReason.DESCRIPTOR_READ,
    "sidt": ExitReason.DESCRIPTOR_READ, "sldt": ExitReason.DESCRIPTOR_READ,
    "str": ExitReason.DESCRIPTOR_READ, "smsw": ExitReason.SMSW, "lar": ExitReason.SEGMENT_CHECK,
    "lsl": ExitReason.SEGMENT_CHECK, "verr": ExitReason.SEGMENT_CHECK,
    "verw": ExitReason.SEGMENT_CHECK, "int": ExitReason.SOFTWARE_INTERRUPT,
    "int3": ExitReason.SOFTWARE_INTERRUPT, "into": ExitReason.SOFTWARE_INTERRUPT,
}


class BinaryTranslation(SoftwareMonitor):
    name = "binary_translation"
    title = "binary translation"
    io_cost = "callout"  # translated IN/OUT call the monitor's device model directly

    def __init__(self, handlers: HandlerTable | None = None, profile: bool = False):
        super().__init__(handlers if handlers is not None else translation_handlers())
        self.cache = TranslationCache()
        # Count each block's executions for the translation-cache view. Off by default: it costs
        # a monitor callback per block executed, which is exactly what translation avoids.
        self.profile = profile
        self._hooks: dict[int, int] = {}  # guest address -> Unicorn hook (callouts, lookups)
        self._entry_hooks: dict[int, int] = {}  # block start -> profiling hook
        self._smc_hook: int | None = None
        self._smc_span: tuple[int, int] | None = None
        self._retranslate: dict[int, int] = {}  # invalidated range start -> trap-on-entry hook

    # ------------------------------------------------------------------ set-up
    def boot(self) -> None:
        super().boot()
        self.ensure_translated(self.machine.eip)

    # ------------------------------------------------------------------ translation
    def ensure_translated(self, address: int) -> None:
        """Translate the code reachable from ``address`` unless the cache has it (a lookup)."""
        if self.cache.covers(address):
            self.cache.hits += 1
            return
        self.cache.misses += 1
        new = translate(self.machine.read, address, self.cache)
        for block in new:
            self._install(block)  # (a split block keeps its hooks: only its entry hook is new)
        if new:
            self.trace.charge("translation", sum(len(b.instructions) for b in new)
                              * COSTS["translate_insn"].cycles)
            self._cover_for_writes()

    def _install(self, block: TranslatedBlock) -> None:
        uc = self.machine.uc
        for insn in block.instructions:
            addr = insn.address
            if addr in self._hooks:
                continue
            if addr in block.callouts:
                self._hooks[addr] = uc.hook_add(unicorn.UC_HOOK_CODE, self._callout, insn, addr, addr)
            elif is_indirect(insn):
                self._hooks[addr] = uc.hook_add(unicorn.UC_HOOK_CODE, self._lookup, insn, addr, addr)
        if self.profile and block.address not in self._entry_hooks:
            block.executions = 0
            self._entry_hooks[block.address] = uc.hook_add(
                unicorn.UC_HOOK_CODE, self._count_block, None, block.address, block.address)
        uc.ctl_remove_cache(block.address, block.end)

    def _uninstall(self, block: TranslatedBlock) -> None:
        uc = self.machine.uc
        for insn in block.instructions:
            h = self._hooks.pop(insn.address, None)
            if h is not None:
                uc.hook_del(h)
        h = self._entry_hooks.pop(block.address, None)
        if h is not None:
            uc.hook_del(h)

    @property
    def translations(self) -> list[TranslatedBlock]:
        return list(self.cache)

    # ------------------------------------------------------------------ the core's callbacks
    def _count_block(self, uc, address: int, size: int, _: object) -> None:
        block = self.cache.blocks.get(address)
        if block is not None and block.executions is not None and self.machine.cpl() != 3:
            block.executions += 1

    def _callout(self, uc, address: int, size: int, insn: Instruction) -> None:
        """A translated sensitive or privileged instruction is about to run: emulate it instead."""
        m = self.machine
        cpl = m.cpl()
        if cpl == 3:  # user code is not translated: it runs as it is
            return
        try:
            self.vcpu.virt.CPL = 0
            reason, qual = self._classify(insn)
            self.cache.callouts[insn.mnemonic] += 1
            exit_ = self._exit(reason, address, insn, qual, detail={"via": "callout"})
            self.dispatch(exit_, cost="callout")
        except Exception as e:  # noqa: BLE001 - reported as the run's error, never a crash
            from ..errors import GuestFault, VlabError

            m._fail(e if isinstance(e, VlabError) else GuestFault(f"callout failed: {e!r}", address))

    def _classify(self, insn: Instruction) -> tuple[ExitReason, int]:
        key = (insn.address, insn.raw)
        found = self._classified.get(key)
        if found is None:
            reason, qual = self.classify_fault(insn)
            if reason is None:
                mn = insn.mnemonic
                if mn in ("mov", "push") and "s" in insn.op_str:
                    reason = ExitReason.SEGMENT_READ
                else:
                    reason = _SENSITIVE_REASONS.get(mn, ExitReason.PRIVILEGED_INSTRUCTION)
            found = self._classified[key] = (reason, qual)
        return found

    def _lookup(self, uc, address: int, size: int, insn: Instruction) -> None:
        """An indirect branch (RET, JMP/CALL through a register or memory): is its target
        translated? (Real translators do this lookup inside the translated code.)"""
        m = self.machine
        if m.cpl() == 3:
            return
        try:
            target = self._indirect_target(insn)
            if target is not None:
                self.ensure_translated(target)
        except Exception as e:  # noqa: BLE001
            from ..errors import GuestFault, VlabError

            m._fail(e if isinstance(e, VlabError) else GuestFault(f"lookup failed: {e!r}", address))

    def _indirect_target(self, insn: Instruction) -> int | None:
        from ..handlers import effective_address
        from ..isa import operands

        v = self.vcpu
        if insn.mnemonic == "ret":
            return v.mem.u32(v.regs.esp)
        op = operands(insn)[0]
        if op.kind == "reg":
            return v.regs[op.reg]
        if op.kind == "mem":
            fake = Exit(ExitReason.PRIVILEGED_INSTRUCTION, insn.address, self.name, 0,
                        insn.text, insn.raw)
            return v.mem.u32(effective_address(v, fake))
        return None

    def after_exit(self, exit_: Exit) -> None:
        """Wherever an exit sent the kernel (an interrupt handler, an IRET's target, a far
        jump's), that code must be translated before it runs."""
        cs, eip = self.machine.next_guest_entry()
        if cs & 3 != 3:
            self.ensure_translated(eip)

    # ------------------------------------------------------------------ self-modifying code
    def _cover_for_writes(self) -> None:
        """Watch guest writes to the span of translated code (only that span: a store elsewhere
        never reaches Python)."""
        if not self.cache.blocks:
            return
        lo = min(b.address for b in self.cache.blocks.values())
        hi = max(b.end for b in self.cache.blocks.values())
        if self._smc_span == (lo, hi):
            return
        uc = self.machine.uc
        if self._smc_hook is not None:
            uc.hook_del(self._smc_hook)
        self._smc_hook = uc.hook_add(unicorn.UC_HOOK_MEM_WRITE, self._on_code_write, None, lo, hi - 1)
        self._smc_span = (lo, hi)

    def _on_code_write(self, uc, access: int, address: int, size: int, value: int, _: object) -> None:
        blocks = self.cache.overlapping(address, address + size)
        blocks = [b for b in blocks if any(i.address < address + size and address < i.address + i.size
                                           for i in b.instructions)]
        if not blocks:
            return  # data between code, not code
        m = self.machine
        for block in blocks:
            self._uninstall(block)
            self.cache.remove(block)
            self._retranslate[block.address] = uc.hook_add(
                unicorn.UC_HOOK_CODE, self._on_reentry, block.address, block.address, block.end - 1)
        exit_ = Exit(ExitReason.CODE_MODIFIED, m.eip, self.name, self.vcpu.virt.CPL,
                     handler="translation_cache.invalidate", index=self.trace.total,
                     detail={"written": address, "size": size,
                             "blocks": [b.address for b in blocks]})
        m.report_exit(exit_)

    def _on_reentry(self, uc, address: int, size: int, start: int) -> None:
        """First instruction executed in a range whose translation was dropped: translate anew."""
        h = self._retranslate.pop(start, None)
        if h is not None:
            uc.hook_del(h)
        if self.machine.cpl() != 3:
            self.ensure_translated(address)
