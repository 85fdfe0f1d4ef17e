"""What an instruction does, and what it causes under each of vlab's strategies: a trap, a
callout, a VM exit with its reason, a hypercall, or nothing at all (a virtualization hole).

The per-strategy lines come from the monitors' own tables (the trap-and-emulate monitor's #GP
classification, the translator's callout reasons, the VT-x model's exit triggers), so the text
says what vlab does. The x86 (vlab) kernel shows it on Shift-Tab (``Lab.explain``).
"""

from __future__ import annotations

import re

from vlab import isa
from vlab.monitor.trace import ExitReason
from vlab.monitor.translator import INLINE
from vlab.strategies.binary_translation import _SENSITIVE_REASONS
from vlab.strategies.trap_emulate import _GP_REASONS

#: Ordinary instructions vlab describes (as running unchanged everywhere); the kernel's completion
#: offers them with the system ones.
ORDINARY = frozenset((
    "mov", "movzx", "movsx", "lea", "add", "adc", "sub", "sbb", "inc", "dec", "neg", "cmp",
    "and", "or", "xor", "not", "test", "shl", "shr", "sar", "rol", "ror", "rcl", "rcr", "mul",
    "imul", "div", "idiv", "push", "pop", "pushad", "popad", "call", "ret", "jmp", "je", "jne",
    "jz", "jnz", "jc", "jnc", "ja", "jae", "jb", "jbe", "jg", "jge", "jl", "jle", "js", "jns",
    "loop", "xchg", "cld", "std", "clc", "stc", "cmc", "nop", "rep", "stosb", "stosd", "movsb",
    "movsd", "lodsb", "lodsd", "cmpsb", "scasb", "bt", "bts", "btr", "bsf", "bsr", "cdq",
    "cwde", "sete", "setne", "setz", "setnz", "ud2", "int3", "into", "iretd", "retf", "ljmp",
    "lcall", "ltr", "lldt", "verr", "verw", "rdtsc", "rdmsr", "wrmsr", "rdpmc", "sysenter",
    "sysexit", "invlpg", "wbinvd", "invd", "clts", "lmsw", "smsw", "cpuid", "vmcall"))

WHAT = {
    "cli": "clears IF: maskable interrupts are held off", "sti": "sets IF (interrupts are taken "
    "after the next instruction)", "hlt": "halts until the next interrupt",
    "popf": "pops EFLAGS; at CPL > IOPL it silently leaves IF alone, and only ring 0 changes IOPL",
    "popfd": "pops EFLAGS; at CPL > IOPL it silently leaves IF alone, and only ring 0 changes "
    "IOPL", "pushf": "pushes EFLAGS, IF and IOPL included", "pushfd": "pushes EFLAGS, IF and IOPL "
    "included", "sgdt": "stores GDTR (base, limit) at any privilege level", "sidt": "stores IDTR "
    "at any privilege level", "sldt": "stores the LDT selector at any privilege level",
    "str": "stores the task register's selector at any privilege level", "smsw": "stores "
    "CR0[15:0] at any privilege level", "lar": "loads a descriptor's access rights (checked "
    "against CPL and RPL)", "lsl": "loads a segment's limit (checked against CPL and RPL)",
    "verr": "is the segment readable at the current CPL? (ZF)", "verw": "is the segment writable "
    "at the current CPL? (ZF)", "lgdt": "loads GDTR", "lidt": "loads IDTR", "lldt": "loads the "
    "LDT register", "ltr": "loads the task register", "lmsw": "loads CR0[3:0]", "clts": "clears "
    "CR0.TS", "invlpg": "drops one page's TLB entry", "wbinvd": "writes back and invalidates the "
    "caches", "invd": "invalidates the caches", "rdmsr": "reads the MSR ECX into EDX:EAX",
    "wrmsr": "writes EDX:EAX to the MSR ECX", "rdpmc": "reads performance counter ECX",
    "rdtsc": "reads the time-stamp counter", "cpuid": "identifies the processor (leaf EAX)",
    "in": "reads an I/O port", "out": "writes an I/O port", "int": "calls an interrupt handler "
    "through the IDT (gate DPL checked against CPL)", "iretd": "returns from an interrupt (CS, "
    "EFLAGS, and SS:ESP when the ring changes)", "iret": "returns from an interrupt",
    "retf": "far return (CS from the stack)", "ljmp": "far jump (a new CS)", "lcall": "far call "
    "(a new CS, maybe through a call gate)", "mov": "moves data; with CRn/DRn a control or debug "
    "register (ring 0 only), with a segment register a selector", "push": "pushes a value (a "
    "segment register: its selector, RPL included)", "pop": "pops a value (into a segment "
    "register: a checked load)", "int3": "breakpoint trap (#BP)", "into": "#OF if OF is set",
    "sysenter": "fast system call (IA32_SYSENTER_* MSRs)", "sysexit": "fast return to ring 3",
    "vmcall": "calls the hypervisor (VMX non-root)"}

_VTX = {  # mnemonic -> (exit reason, when)
    "cpuid": (ExitReason.CPUID, "always (SDM 25.1.2)"),
    "hlt": (ExitReason.HLT, "with HLT exiting (vlab's VMCS sets it)"),
    "invd": (ExitReason.INVD, "always"),
    "in": (ExitReason.IO_INSTRUCTION, "with unconditional I/O exiting or the port's I/O-bitmap bit"),
    "out": (ExitReason.IO_INSTRUCTION, "with unconditional I/O exiting or the port's I/O-bitmap "
            "bit"),
    "invlpg": (ExitReason.INVLPG, "with INVLPG exiting (without EPT)"),
    "rdmsr": (ExitReason.RDMSR, "when the MSR bitmap says so"),
    "wrmsr": (ExitReason.WRMSR, "when the MSR bitmap says so"),
    "rdtsc": (ExitReason.RDTSC, "with RDTSC exiting"),
    "rdpmc": (ExitReason.RDPMC, "with RDPMC exiting"),
    "clts": (ExitReason.CR_ACCESS, "when CR0.TS is owned by the host (guest/host mask)"),
    "lmsw": (ExitReason.CR_ACCESS, "when it changes a bit the CR0 guest/host mask owns"),
    "lgdt": (ExitReason.GDTR_IDTR_ACCESS, "with descriptor-table exiting"),
    "lidt": (ExitReason.GDTR_IDTR_ACCESS, "with descriptor-table exiting"),
    "sgdt": (ExitReason.GDTR_IDTR_ACCESS, "with descriptor-table exiting (else it runs: the "
             "guest's own GDTR, no hole)"),
    "sidt": (ExitReason.GDTR_IDTR_ACCESS, "with descriptor-table exiting (else it runs)"),
    "lldt": (ExitReason.LDTR_TR_ACCESS, "with descriptor-table exiting"),
    "ltr": (ExitReason.LDTR_TR_ACCESS, "with descriptor-table exiting"),
    "sldt": (ExitReason.LDTR_TR_ACCESS, "with descriptor-table exiting (else it runs)"),
    "str": (ExitReason.LDTR_TR_ACCESS, "with descriptor-table exiting (else it runs)"),
    "wbinvd": (ExitReason.WBINVD, "with WBINVD exiting"),
    "vmcall": (ExitReason.VMCALL, "always"),
}


def _mnemonic(word: str) -> str:
    return {"popfl": "popfd", "pushfl": "pushfd", "iretl": "iretd", "lret": "retf"}.get(
        word.lower(), word.lower())


def explain(word: str, line: str = "") -> str | None:
    """What the instruction ``word`` does and what it causes under each strategy (plain text;
    None if ``word`` is not an instruction vlab knows)."""
    mn = _mnemonic(word)
    operand = line.split(None, 1)[1] if len(line.split(None, 1)) == 2 else ""
    klass = isa.classify(mn, operand)
    if mn not in WHAT and klass is isa.InsnClass.INNOCUOUS and mn not in ORDINARY:
        return None
    lines = [f"{mn}: {WHAT.get(mn, 'an ordinary instruction')}",
             f"class: {klass.value}" + {
                 isa.InsnClass.PRIVILEGED: " (faults with #GP outside ring 0)",
                 isa.InsnClass.SENSITIVE: " (sensitive but unprivileged: it does not trap, a "
                                          "virtualization hole; Robin & Irvine 2000)",
                 isa.InsnClass.IO: " (privileged while CPL > IOPL)",
                 isa.InsnClass.VMX: " (VMX: exits under VT-x)",
             }.get(klass, " (runs unchanged under every strategy)"), ""]
    lines += [f"  {name:19} {effect}" for name, effect in _effects(mn, klass, operand)]
    return "\n".join(lines)


_CONTROL = re.compile(r"\b(cr[0-8]|dr[0-7])\b")


def _inline(mn: str, operand: str) -> str | None:
    """What the translated code does for an instruction the translator emulates inline (CLI,
    STI, PUSHF, POPF, SMSW, SGDT ...; reads of a segment register or of a control register),
    else None."""
    found = INLINE.get(mn)
    if found is not None:
        return found[1]
    ops = [o.strip().lower() for o in operand.split(",")] if operand else []
    if mn == "push" and ops and ops[0] in _SEGMENTS:
        return f"push the guest's {ops[0].upper()} selector"
    if mn == "mov" and len(ops) == 2 and ops[1] in _SEGMENTS and ops[0] != "cs":
        return f"the guest's {ops[1].upper()} selector"
    if mn == "mov" and len(ops) == 2 and re.fullmatch(r"cr[0-8]", ops[1]):
        return f"the virtual {ops[1].upper()}"
    return None


_SEGMENTS = frozenset({"cs", "ds", "es", "fs", "gs", "ss"})


def _effects(mn: str, klass: isa.InsnClass, operand: str = "") -> list[tuple[str, str]]:
    if klass is isa.InsnClass.INNOCUOUS:
        return [("every strategy", "runs as it is, at full speed")]
    te = _GP_REASONS.get(mn)
    control = _CONTROL.search(operand.lower()) if mn == "mov" else None
    vtx = _VTX.get(mn)
    if control is not None and control.group(1).startswith("cr"):
        te = ExitReason.CR_ACCESS
        vtx = (te, "for CR0/CR4 when it writes a bit the guest/host mask owns (a read gets the "
                   "read shadow); for CR3 with CR3-load/store exiting (without EPT)")
    elif control is not None:
        te = ExitReason.DR_ACCESS
        vtx = (te, "with MOV-DR exiting")
    if klass is isa.InsnClass.IO:
        trap = f"traps (#GP at ring 1 > IOPL): exit {ExitReason.IO_INSTRUCTION.name}, emulated"
    elif te is not None:
        trap = f"traps (#GP at ring 1): exit {te.name}, emulated on the virtual CPU"
    elif klass is isa.InsnClass.SENSITIVE:
        trap = "does NOT trap at ring 1: a virtualization hole, the guest sees the real state"
    elif klass is isa.InsnClass.PRIVILEGED:
        trap = f"traps (#GP at ring 1): exit {ExitReason.PRIVILEGED_INSTRUCTION.name}"
    else:
        trap = "runs as it is (CPUID is not privileged)" if mn == "cpuid" else "#UD (no VMX)"
    bt_reason = te or _SENSITIVE_REASONS.get(mn)
    inline = _inline(mn, operand)
    if inline is not None:  # (the translator's own rule: vlab.monitor.translator.inline_form)
        named = f" {bt_reason.name}" if bt_reason is not None else ""
        bt = (f"inline{named}: {inline} (the translated code emulates it on the virtual CPU: "
              "no callout)")
    elif klass is isa.InsnClass.IO:
        bt = f"callout {ExitReason.IO_INSTRUCTION.name} (the device model, no trap)"
    elif bt_reason is not None:
        bt = f"callout {bt_reason.name}: translated, emulated on the virtual CPU"
    elif klass in (isa.InsnClass.PRIVILEGED, isa.InsnClass.SENSITIVE):
        bt = f"callout {ExitReason.PRIVILEGED_INSTRUCTION.name}"
    else:
        bt = trap
    vtx_text = (f"VM exit {vtx[0].value} {vtx[0].name} {vtx[1]}" if vtx is not None else
                "runs in VMX non-root ring 0 without an exit: the guest's own state, no hole")
    pv = ("avoided: the paravirtual kernel makes a hypercall instead (int 0x82)"
          if klass in (isa.InsnClass.PRIVILEGED, isa.InsnClass.IO)
          else "the paravirtual kernel avoids it (it runs in ring 1: the same hole)"
          if klass is isa.InsnClass.SENSITIVE else trap)
    return [("native", "runs at ring 0, as on hardware"), ("trap_emulate", trap),
            ("binary_translation", bt), ("vtx", vtx_text), ("paravirt", pv)]
