"""Binary translation: the holes closed by rewriting the kernel's code before it runs.

The unmodified kernel runs deprivileged in ring 1 as under trap-and-emulate, but the monitor
translates its code first (``vlab/monitor/translator.py``, driven by ``vlab/monitor/scanner.py``
when control can first reach a block): every privileged or sensitive instruction of a block is
emulated on the virtual CPU, the simple ones *inline* by the translated code itself (CLI, STI,
PUSHF, POPF, reads of segment and system registers: a few instructions on the virtual CPU), the
rest by a *callout* into the monitor (CR3, GDT, segment loads, I/O, HLT, INT n, IRET ...). POPF now sets
the *virtual* IF (and lets a pending timer interrupt in), PUSHF shows it, SMSW/SGDT/SIDT/SLDT/STR
show the virtual registers, ``mov eax, cs`` shows CPL 0, LAR/LSL/VERR/VERW judge the guest's own
descriptors at the virtual CPL. The kernel's output and final state equal native's exactly.

User code at ring 3 is not translated: it runs directly, as in VMware's design (Adams & Agesen,
ASPLOS 2006). Inline emulation costs a few cycles, a callout about a hundred, a trap (no fault, no
IDT, no IRET) more than a thousand; what the translator really pays is translating a block (once,
then the translation cache serves it) and looking up the target of every indirect branch (RET,
JMP/CALL through a register or memory), charged as modelled cycles. When the guest writes to code the
translator has translated, the affected blocks are dropped and translated again when next reached.

With guest paging the monitor keeps shadow page tables (``vlab/monitor/shadow.py``), and guest page-table
frames are write-protected. Translation *adapts* (Adams & Agesen, sec. 3.3): a kernel instruction
that once took a page-table write trap gets a callout that prepares its write (drops the shadow
it would invalidate) before it runs, so from then on it never traps.

Follow one emulated instruction, ``popfd`` in the kernel: the scanner put an exact-address hook on
it when it scanned its block; the hook calls :meth:`BinaryTranslation.callout` before the
instruction runs, which builds the Exit (reason POPF, ``"via": "inline"``, kind ``inline_flags``:
what VMware's translated code does itself) and dispatches it to ``handle_popf`` (``handlers.py``
here). The handler loads the flags into the *virtual* CPU and skips the instruction, so the real
POPF never executes. A callout (``mov cr3, eax``) takes the same path with ``"via": "callout"``.
"""

from __future__ import annotations

from vlab.errors import VlabError
from vlab.isa import InsnClass, Instruction, operands
from vlab.monitor.dispatch import base_mnemonic
from vlab.monitor.handlers import HandlerTable, operand_address
from vlab.monitor.scanner import CodeScanner
from vlab.monitor.trace import Exit, ExitReason
from vlab.monitor.translator import callout_reason, inline_form
from vlab.strategies.binary_translation.handlers import translation_handlers
from vlab.strategies.trap_emulate import TrapAndEmulate

_SENSITIVE_REASONS = {
    "pushf": ExitReason.PUSHF, "pushfd": ExitReason.PUSHF, "popf": ExitReason.POPF,
    "popfd": ExitReason.POPF, "sgdt": ExitReason.DESCRIPTOR_READ,
    "sidt": ExitReason.DESCRIPTOR_READ, "sldt": ExitReason.DESCRIPTOR_READ,
    "str": ExitReason.DESCRIPTOR_READ, "smsw": ExitReason.SMSW, "lar": ExitReason.SEGMENT_CHECK,
    "lsl": ExitReason.SEGMENT_CHECK, "verr": ExitReason.SEGMENT_CHECK,
    "verw": ExitReason.SEGMENT_CHECK, "rdpmc": ExitReason.RDPMC, "int": ExitReason.SOFTWARE_INTERRUPT,
    "int3": ExitReason.SOFTWARE_INTERRUPT, "into": ExitReason.SOFTWARE_INTERRUPT,
}


_SEGMENTS = frozenset({"cs", "ds", "es", "fs", "gs", "ss"})


class BinaryTranslation(CodeScanner, TrapAndEmulate):
    capabilities = frozenset({"virtual_cpu", "shadow_paging", "translation_cache"})
    name = "binary_translation"
    title = "binary translation"
    io_cost = "callout"  # translated IN/OUT call the monitor's device model directly

    def __init__(self, handlers: HandlerTable | None = None, profile: bool = False):
        super().__init__(handlers if handlers is not None else translation_handlers())
        # Counting each block's executions (for the translation-cache view): with the native
        # instruction counter its block hook adds them up (about 10% slower); without it, a hook
        # per block executed, which is exactly what translation avoids: off by default.
        self.init_scanner(profile)
        self._pt_writers: dict[int, int] = {}  # kernel address -> its write-preparing callout

    def boot(self) -> None:
        super().boot()
        self.ensure_translated(self.machine.cpu.eip)

    def needs_callout(self, insn: Instruction) -> str | None:
        """Privileged and sensitive-unprivileged instructions call out; the rest runs as is."""
        return callout_reason(insn)

    def callout(self, insn: Instruction) -> None:
        """A translated sensitive or privileged instruction is about to run: emulate it instead.
        (In the guest's ring 1, really ring 2, a privileged instruction runs and faults as on
        hardware; the trap path lets CLI/STI through when the guest's IOPL allows.)"""
        if insn.klass is InsnClass.PRIVILEGED and self.machine.cpu.cpl() == 2:
            return
        reason, qual = self._classify(insn)
        if reason is None:
            return
        form = inline_form(insn)
        if form is not None:  # emulated by the translated code itself: no call at all
            self.cache.inline[insn.mnemonic] += 1
            self.dispatch(self._exit(reason, insn.address, insn, qual,
                                     detail={"via": "inline", "inline": form[1]},
                                     cost=f"inline_{form[0]}"))
            return
        self.cache.callouts[insn.mnemonic] += 1
        self.dispatch(self._exit(reason, insn.address, insn, qual, detail={"via": "callout"}, cost="callout"))

    def io_exit_detail(self, insn: Instruction) -> dict:
        """Translated IN/OUT call the monitor's device model: a callout, not a trap."""
        self.cache.callouts[insn.mnemonic] += 1
        return {"via": "callout"}

    def _classify(self, insn: Instruction) -> tuple[ExitReason, int]:
        key = (insn.address, insn.raw)
        found = self._classified.get(key)
        if found is None:
            reason, qual = self.classify_fault(insn)
            if reason is None:
                mn = insn.mnemonic
                ops = operands(insn)
                if (mn == "push" and ops and ops[0].reg in _SEGMENTS) or (
                        mn == "mov" and len(ops) == 2 and ops[1].reg in _SEGMENTS):
                    reason = ExitReason.SEGMENT_READ
                elif mn in ("mov", "pop") and ops and ops[0].reg == "cs":
                    reason = None  # not a valid instruction: it runs (and faults) as natively
                else:
                    reason = _SENSITIVE_REASONS.get(mn, ExitReason.PRIVILEGED_INSTRUCTION)
            found = self._classified[key] = (reason, qual)
        return found

    # ------------------------------------------------------------------ adaptive translation
    def page_fault(self, error_code: int) -> None:
        """As any software monitor; a page-table write trap also retranslates its instruction."""
        super().page_fault(error_code)
        rec = self.pager.recent[-1] if self.pager.recent else None
        if rec is not None and rec.kind == "pt_write" and self.machine.cpu.cpl() != 3:
            self._adapt(rec.eip)

    def save_state(self) -> dict:
        return {**super().save_state(), "pt_writers": sorted(self._pt_writers)}

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        for address in list(self._pt_writers):
            if address not in state["pt_writers"]:
                self.machine.core.remove_hook(self._pt_writers.pop(address))
                self.machine.core.forget_code(address, address + 1)
        for address in state["pt_writers"]:
            self._adapt(address)

    def _adapt(self, address: int) -> None:
        """Retranslate a kernel instruction that writes page tables: it gets a callout."""
        if address in self._pt_writers:
            return
        insn = self._decode(address)
        if insn is None or self._written(insn) is None:
            return
        core = self.machine.core
        self._pt_writers[address] = core.on_execute(self._on_pt_writer, address, address, insn)
        core.forget_code(address, address + 1)

    def _on_pt_writer(self, uc, address: int, size: int, insn: Instruction) -> None:
        if self.machine.cpu.cpl() == 3 or self.pager is None:
            return
        self._guard(address, self._prepare_write, insn)

    def _prepare_write(self, insn: Instruction) -> None:
        m = self.machine
        span = self._written(insn)
        if span is None:
            return
        start, length = span
        page = start & ~0xFFF
        while page < start + length:
            try:
                physical = m.memory.translate(page, accessed=False)
            except VlabError:
                physical = None
            if physical is not None and self.pager.prepare_write(physical):
                self.record(self._exit(ExitReason.PAGE_TABLE_WRITE, insn.address, insn,
                                       detail={"via": "callout", "frame": physical & ~0xFFF},
                                       cost="callout",
                                       handler="shadow pager (adaptive translation)"))
            page += 0x1000

    def _written(self, insn: Instruction) -> tuple[int, int] | None:
        """(linear address, length) an instruction is about to write, if it is a store."""
        v, mn = self.vcpu, base_mnemonic(insn.mnemonic)
        if mn[:4] in ("stos", "movs"):
            size = {"b": 1, "w": 2, "d": 4}.get(mn[-1], 4)
            count = v.regs.ecx if insn.mnemonic.startswith("rep") else 1
            return v.regs.edi, size * max(1, min(count, 4096))
        if mn == "push":
            return (v.regs.esp - 4) & 0xFFFF_FFFF, 4
        ops = operands(insn)
        if ops and ops[0].kind == "mem":
            return operand_address(v, insn, 0), ops[0].size or 4
        return None

    def after_exit(self, exit_: Exit) -> None:
        self.scan_next_entry()
