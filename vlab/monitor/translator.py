"""The binary translator: finds guest kernel code before it runs and marks what must call out.

A block is decoded with Capstone when control can first reach it and stored in the translation
cache, keyed by guest address. Each instruction is classified: *innocuous* ones run as they are;
*privileged* and *sensitive-unprivileged* ones are emulated on the virtual CPU. The simple ones
(CLI, STI, PUSHF, POPF, reads of segment, descriptor-table and control registers) are emulated
**inline**: the translated code itself reads or writes the virtual CPU, a few instructions and no
call into the monitor, as VMware's translator did (``cli`` becomes "virtual IF := 0"; Adams &
Agesen, ASPLOS 2006, sec. 3.2). The rest (loading CR3, the GDT or a segment, I/O, HLT, INT n,
IRET ...) become **callouts** into the monitor's emulation routines. The translator's own costs
are elsewhere: translating a block once, and every indirect branch (RET, JMP/CALL through a
register or memory), whose guest target must be looked up in the translation cache. The
translator follows direct branches eagerly; indirect ones (RET, JMP/CALL through a register or
memory, interrupts, IRET) are looked up when they execute, and a target not yet translated is
translated then.

How vlab realises a callout: the core (Unicorn, i.e. QEMU) already translates every guest block
into host code; vlab attaches a monitor callback at the exact address of each callout instruction,
so the callout runs *instead of* the instruction and the rest of the block runs at full speed. The
guest's memory is never patched: a guest reading its own code sees its original bytes, and the
translation cache lives in the monitor, out of the guest's reach.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from vlab.isa import InsnClass, Instruction, decoder, operands

#: Instructions that end a basic block.
_JUMPS = frozenset({"jmp", "ljmp", "ret", "retf", "iret", "iretd", "hlt", "ud2", "lcall", "call",
                    "int", "int3", "into", "loop", "loope", "loopne", "jecxz", "jcxz", "sysenter",
                    "sysexit", "syscall", "sysret"})
#: ... and do not fall through to the next instruction.
_NO_FALLTHROUGH = frozenset({"jmp", "ljmp", "ret", "retf", "iret", "iretd", "ud2", "sysexit",
                             "sysret"})
#: Near branches whose target is only known when they execute.
INDIRECT = frozenset({"ret", "jmp", "call"})
MAX_BLOCK = 64


def _is_jump(insn: Instruction) -> bool:
    return insn.mnemonic in _JUMPS or (insn.mnemonic.startswith("j") and insn.mnemonic != "jmp")


@dataclass
class TranslatedBlock:
    """One basic block in the translation cache."""

    address: int
    instructions: list[Instruction]
    callouts: dict[int, str] = field(default_factory=dict)  # address -> why it calls out
    executions: int | None = None  # counted when the strategy profiles blocks

    @property
    def end(self) -> int:
        last = self.instructions[-1]
        return last.address + last.size

    def rows(self) -> list[dict]:
        """Original and translated form, one row per instruction."""
        return [{"address": i.address, "original": i.text, "class": i.klass.value,
                 "translated": translated_form(i)
                 if i.address in self.callouts or i.klass is InsnClass.IO
                 else "lookup of the target" if is_indirect(i) else "as is"}
                for i in self.instructions]

    def __repr__(self) -> str:
        return (f"<TranslatedBlock {self.address:#010x}: {len(self.instructions)} instructions, "
                f"{len(self.callouts)} callouts>")


class TranslationCache:
    """Translated blocks by guest address, with the counters a student can inspect."""

    def __init__(self) -> None:
        self.blocks: dict[int, TranslatedBlock] = {}
        self._owner: dict[int, TranslatedBlock] = {}  # instruction address -> its block
        self.translated = 0  # blocks translated (ever; re-translations count again)
        self.hits = 0  # indirect-branch lookups that found the target translated
        self.misses = 0  # ... that had to translate it first
        self.invalidated = 0  # blocks dropped because the guest wrote to their code
        self.callouts: Counter[str] = Counter()  # callouts executed, by mnemonic
        self.inline: Counter[str] = Counter()  # inline emulations executed, by mnemonic

    def __len__(self) -> int:
        return len(self.blocks)

    def __iter__(self):
        return iter(sorted(self.blocks.values(), key=lambda b: b.address))

    def __contains__(self, address: int) -> bool:
        return address in self.blocks

    def covers(self, address: int) -> bool:
        """Is ``address`` the start of an instruction already translated?"""
        return address in self._owner

    def add(self, block: TranslatedBlock) -> None:
        self.blocks[block.address] = block
        for insn in block.instructions:
            self._owner[insn.address] = block
        self.translated += 1

    def overlapping(self, start: int, end: int) -> list[TranslatedBlock]:
        """Blocks with an instruction overlapping guest bytes [start, end) (an x86 instruction
        is at most 15 bytes long, so only starts in [start - 14, end) can overlap)."""
        found: list[TranslatedBlock] = []
        for a in range(start - 14, end):
            block = self._owner.get(a)
            if block is not None and block not in found:
                insn = next(i for i in block.instructions if i.address == a)
                if a + insn.size > start:
                    found.append(block)
        return found

    def split(self, address: int) -> TranslatedBlock:
        """Make ``address`` (inside a block) the start of a block of its own; returns the tail."""
        block = self._owner[address]
        i = next(k for k, insn in enumerate(block.instructions) if insn.address == address)
        head, tail = block.instructions[:i], block.instructions[i:]
        block.instructions = head
        moved = {a: why for a, why in block.callouts.items() if a >= address}
        for a in moved:
            del block.callouts[a]
        new = TranslatedBlock(address, tail, moved, 0 if block.executions is not None else None)
        self.add(new)
        return new

    def remove(self, block: TranslatedBlock) -> None:
        self.blocks.pop(block.address, None)
        for insn in block.instructions:
            if self._owner.get(insn.address) is block:
                del self._owner[insn.address]
        self.invalidated += 1

    def stats(self) -> dict[str, object]:
        return {"blocks": len(self.blocks), "translated": self.translated, "hits": self.hits,
                "misses": self.misses, "invalidated": self.invalidated,
                "callouts": dict(self.callouts), "inline": dict(self.inline)}


#: The sensitive instructions a translator emulates inline, by category (each category has its
#: modelled cost, ``COSTS["inline_<category>"]``), with what the translated code does.
INLINE: dict[str, tuple[str, str]] = {
    "cli": ("flags", "virtual IF := 0"),
    "sti": ("flags", "virtual IF := 1"),
    "pushf": ("flags", "push EFLAGS with the virtual IF and IOPL"),
    "pushfd": ("flags", "push EFLAGS with the virtual IF and IOPL"),
    "popf": ("flags", "pop into EFLAGS, IF and IOPL into the virtual ones"),
    "popfd": ("flags", "pop into EFLAGS, IF and IOPL into the virtual ones"),
    "smsw": ("read", "the virtual CR0's low 16 bits"),
    "sgdt": ("read", "store the virtual GDTR"),
    "sidt": ("read", "store the virtual IDTR"),
    "sldt": ("read", "the virtual LDTR"),
    "str": ("read", "the virtual TR"),
}
_SEGMENT_REGISTERS = frozenset({"cs", "ds", "es", "fs", "gs", "ss"})


def inline_form(insn: Instruction) -> tuple[str, str] | None:
    """(category, what the translated code does) if ``insn`` is emulated inline, else None:
    the :data:`INLINE` instructions, reads of a segment register (MOV r/m, Sreg; PUSH Sreg: the
    guest's own selector) and reads of a control register (MOV r32, CRn: the virtual one)."""
    found = INLINE.get(insn.mnemonic)
    if found is not None:
        return found
    if insn.mnemonic in ("mov", "push"):
        ops = operands(insn)
        if insn.mnemonic == "push" and ops and ops[0].reg in _SEGMENT_REGISTERS:
            return "read", f"push the guest's {ops[0].reg.upper()} selector"
        if len(ops) == 2 and ops[1].reg in _SEGMENT_REGISTERS and ops[0].reg != "cs":
            return "read", f"the guest's {ops[1].reg.upper()} selector"
        if len(ops) == 2 and (ops[1].reg or "").startswith("cr"):
            return "read", f"the virtual {ops[1].reg.upper()}"
    return None


def translated_form(insn: Instruction) -> str:
    """How a sensitive or privileged instruction appears in translated code."""
    form = inline_form(insn)
    if form is not None:
        return f"inline: {form[1]}"
    if insn.klass is InsnClass.IO:  # (vlab: the core's I/O hook calls the device model)
        return f"callout -> {insn.mnemonic} (device model)"
    return f"callout -> {insn.mnemonic}"


def callout_reason(insn: Instruction) -> str | None:
    """Why an instruction must call out (its class), or None if it runs as is."""
    if insn.klass in (InsnClass.PRIVILEGED, InsnClass.SENSITIVE):
        return insn.klass.value
    return None


def translate(read, entry: int, cache: TranslationCache, classify=None,
              limit: int = 512) -> list[TranslatedBlock]:
    """Translate every block reachable by direct control flow from ``entry`` that is not yet in
    the cache. ``read(address, n)`` reads guest memory; ``classify(insn)`` says why an
    instruction must call out (default :func:`callout_reason`). Returns the new blocks."""
    classify = classify or callout_reason
    new: list[TranslatedBlock] = []
    work = [entry]
    while work and len(new) < limit:
        pc = work.pop()
        if pc in cache.blocks:
            continue
        if cache.covers(pc):  # a branch into the middle of a block: a new leader, split there
            new.append(cache.split(pc))
            continue
        block = _decode_block(read, pc, cache, classify)
        if block is None:
            continue
        cache.add(block)
        new.append(block)
        last = block.instructions[-1]
        if all(i.raw == b"\0\0" for i in block.instructions):
            continue  # zero-filled memory, not code: do not sweep on through it
        if last.mnemonic not in _NO_FALLTHROUGH and not _ends_run(last):
            work.append(last.address + last.size)
        target = direct_target(last)
        if target is not None:
            work.append(target)
    return new


def _ends_run(insn: Instruction) -> bool:
    """``out 0xf4, al``: the exit device ends the run; nothing follows it."""
    return insn.mnemonic == "out" and insn.raw[:2] == b"\xe6\xf4"


def _decode_block(read, pc: int, cache: TranslationCache, classify) -> TranslatedBlock | None:
    insns: list[Instruction] = []
    callouts: dict[int, str] = {}
    while len(insns) < MAX_BLOCK:
        try:
            code = read(pc, 15)
        except Exception:
            break
        insn = decoder().decode(code, pc)
        if insn is None:
            break  # invalid bytes: the core raises #UD when (if) it gets here
        insns.append(insn)
        if classify(insn):
            callouts[pc] = insn.mnemonic
        if _is_jump(insn) or _ends_run(insn):
            break
        pc += insn.size
        if cache.covers(pc):  # runs into a block translated before: end here
            break
    if not insns:
        return None
    return TranslatedBlock(insns[0].address, insns, callouts)


def direct_target(insn: Instruction) -> int | None:
    """The target offset of a direct branch (JMP/Jcc/CALL/LOOP rel, far JMP/CALL ptr16:32)."""
    if not _is_jump(insn) or insn.mnemonic in ("int", "int3", "into"):
        return None
    ops = operands(insn)
    if insn.mnemonic in ("ljmp", "lcall"):
        return ops[1].value if len(ops) == 2 and ops[1].kind == "imm" else None
    if len(ops) == 1 and ops[0].kind == "imm":
        return ops[0].value
    return None


def is_indirect(insn: Instruction) -> bool:
    """RET, or JMP/CALL through a register or memory."""
    if insn.mnemonic == "ret":
        return True
    return insn.mnemonic in ("jmp", "call") and direct_target(insn) is None
