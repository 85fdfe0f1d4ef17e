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

from ..handlers import HandlerTable, translation_handlers
from ..isa import Instruction, operands
from ..trace import Exit, ExitReason
from ..translator import callout_reason
from .monitor import SoftwareMonitor
from .scanning import CodeScanner

_SENSITIVE_REASONS = {
    "pushf": ExitReason.PUSHF, "pushfd": ExitReason.PUSHF, "popf": ExitReason.POPF,
    "popfd": ExitReason.POPF, "sgdt": ExitReason.DESCRIPTOR_READ,
    "sidt": ExitReason.DESCRIPTOR_READ, "sldt": ExitReason.DESCRIPTOR_READ,
    "str": ExitReason.DESCRIPTOR_READ, "smsw": ExitReason.SMSW, "lar": ExitReason.SEGMENT_CHECK,
    "lsl": ExitReason.SEGMENT_CHECK, "verr": ExitReason.SEGMENT_CHECK,
    "verw": ExitReason.SEGMENT_CHECK, "int": ExitReason.SOFTWARE_INTERRUPT,
    "int3": ExitReason.SOFTWARE_INTERRUPT, "into": ExitReason.SOFTWARE_INTERRUPT,
}


_SEGMENTS = frozenset({"cs", "ds", "es", "fs", "gs", "ss"})


class BinaryTranslation(CodeScanner, SoftwareMonitor):
    name = "binary_translation"
    title = "binary translation"
    io_cost = "callout"  # translated IN/OUT call the monitor's device model directly

    def __init__(self, handlers: HandlerTable | None = None, profile: bool = False):
        super().__init__(handlers if handlers is not None else translation_handlers())
        # Counting each block's executions (for the translation-cache view) costs a monitor
        # callback per block executed, which is exactly what translation avoids: off by default.
        self.init_scanner(profile)

    def boot(self) -> None:
        super().boot()
        self.ensure_translated(self.machine.eip)

    def needs_callout(self, insn: Instruction) -> str | None:
        """Privileged and sensitive-unprivileged instructions call out; the rest runs as is."""
        return callout_reason(insn)

    def callout(self, insn: Instruction) -> None:
        """A translated sensitive or privileged instruction is about to run: emulate it instead."""
        self.vcpu.virt.CPL = 0
        reason, qual = self._classify(insn)
        if reason is None:
            return
        self.cache.callouts[insn.mnemonic] += 1
        self.dispatch(self._exit(reason, insn.address, insn, qual, detail={"via": "callout"}),
                      cost="callout")

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

    def after_exit(self, exit_: Exit) -> None:
        self.scan_next_entry()
