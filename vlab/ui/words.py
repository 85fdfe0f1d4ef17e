"""The lab's words for what lower layers hand over as values: exit reasons (Intel's names, with
what each means on hover), qualifications, page-table entries, page faults and the names of
counters. The model writes these in English for logs and tests (``str(decode_io(q))``); the
views write them here, field by field, through :func:`vlab.tr`, so they read in the lab's
language. VM exit reasons, VMCS fields and mnemonics keep their Intel names in every language.
"""

from __future__ import annotations

import re

from ..hw.paging import FRAME, PS, RW, US, A, D, P
from ..i18n import N_, tr
from ..monitor.qualification import decode_cr, decode_io
from .display import h

#: What each exit reason means (the tooltip over its Intel name). Basic reasons: SDM vol. 3,
#: appendix C; from 0x100 up, vlab's own for software monitors (VT-x has no exit for these).
REASONS = {
    "EXCEPTION_NMI": N_("an exception or NMI in the guest, one the exception bitmap (or the "
                        "monitor) takes"),
    "EXTERNAL_INTERRUPT": N_("a hardware interrupt arrived while the guest ran"),
    "TRIPLE_FAULT": N_("the guest faulted while delivering a double fault: a shutdown"),
    "INTERRUPT_WINDOW": N_("the guest can take interrupts again (IF = 1): the monitor asked to "
                           "be told, to inject one"),
    "CPUID": N_("the guest asked the processor what it is (CPUID always exits under VT-x)"),
    "HLT": N_("the guest halted to wait for an interrupt"),
    "INVLPG": N_("the guest invalidated one TLB entry"),
    "RDPMC": N_("the guest read a performance counter"),
    "RDTSC": N_("the guest read the time-stamp counter"),
    "VMCALL": N_("the guest called the monitor (a hypercall through VMCALL)"),
    "VMCLEAR": N_("the guest ran a VMX instruction (VMCLEAR): its hypervisor decides"),
    "VMLAUNCH": N_("the guest ran a VMX instruction (VMLAUNCH): its hypervisor decides"),
    "VMPTRLD": N_("the guest ran a VMX instruction (VMPTRLD): its hypervisor decides"),
    "VMPTRST": N_("the guest ran a VMX instruction (VMPTRST): its hypervisor decides"),
    "VMREAD": N_("the guest ran a VMX instruction (VMREAD): its hypervisor decides"),
    "VMRESUME": N_("the guest ran a VMX instruction (VMRESUME): its hypervisor decides"),
    "VMWRITE": N_("the guest ran a VMX instruction (VMWRITE): its hypervisor decides"),
    "VMXOFF": N_("the guest ran a VMX instruction (VMXOFF): its hypervisor decides"),
    "VMXON": N_("the guest ran a VMX instruction (VMXON): its hypervisor decides"),
    "CR_ACCESS": N_("the guest moved to or from a control register (CR0, CR3, CR4), or ran "
                    "CLTS or LMSW"),
    "DR_ACCESS": N_("the guest moved to or from a debug register"),
    "IO_INSTRUCTION": N_("the guest accessed an I/O port (IN, OUT, INS, OUTS)"),
    "RDMSR": N_("the guest read a model-specific register"),
    "WRMSR": N_("the guest wrote a model-specific register"),
    "GDTR_IDTR_ACCESS": N_("the guest ran LGDT, LIDT, SGDT or SIDT"),
    "LDTR_TR_ACCESS": N_("the guest ran LLDT, LTR, SLDT or STR"),
    "MONITOR_TRAP_FLAG": N_("one guest instruction ran (the monitor trap flag single-steps "
                            "it)"),
    "EPT_VIOLATION": N_("a guest-physical access the EPT does not allow (not mapped, or not "
                        "with these rights)"),
    "INVALID_GUEST_STATE": N_("a VM entry failed: the guest state in the VMCS is invalid"),
    "MSR_LOADING": N_("a VM entry failed while loading MSRs"),
    "INVEPT": N_("the guest invalidated EPT translations (INVEPT)"),
    "INVVPID": N_("the guest invalidated translations by VPID (INVVPID)"),
    "INVD": N_("the guest invalidated its caches (INVD)"),
    "WBINVD": N_("the guest wrote back and invalidated its caches (WBINVD)"),
    "CLI": N_("the guest kernel cleared its interrupt flag (a privileged instruction outside "
              "ring 0)"),
    "STI": N_("the guest kernel set its interrupt flag (a privileged instruction outside ring "
              "0)"),
    "IRET": N_("the guest returned from an interrupt (IRET), which the monitor completes"),
    "POPF": N_("the guest popped EFLAGS: outside ring 0 the CPU would silently keep IF"),
    "PUSHF": N_("the guest pushed EFLAGS: outside ring 0 it would show the real IF"),
    "SEGMENT_LOAD": N_("the guest loaded a segment register (MOV or POP)"),
    "SEGMENT_READ": N_("the guest read a segment register (MOV or PUSH): it would show the real "
                       "ring"),
    "FAR_TRANSFER": N_("a far JMP, CALL or RET in the guest"),
    "SOFTWARE_INTERRUPT": N_("the guest ran INT n, INT3 or INTO"),
    "DESCRIPTOR_READ": N_("the guest read a descriptor-table register (SGDT, SIDT, SLDT, STR, "
                          "SMSW): it would see the monitor's"),
    "SEGMENT_CHECK": N_("the guest checked a selector (LAR, LSL, VERR, VERW)"),
    "HYPERCALL": N_("the paravirtual guest called the hypervisor (int 0x82)"),
    "SMSW": N_("the guest read the machine status word (SMSW)"),
    "CODE_MODIFIED": N_("the guest wrote to code the translator had translated"),
    "PAGE_TABLE_WRITE": N_("the guest wrote to a page table the monitor shadows"),
    "PRIVILEGED_INSTRUCTION": N_("the guest ran another privileged instruction outside ring 0"),
}


def reason_help(name: str) -> str:
    """What the exit reason ``name`` means, in the current language ("" if unknown)."""
    return tr(REASONS[name]) if name in REASONS else ""


def reason_html(name: str, shown: str | None = None) -> str:
    """An exit reason as HTML: its Intel name (or ``shown``), what it means on hover."""
    tip = reason_help(name)
    text = h(shown if shown is not None else name)
    return f"<span title='{h(tip)}'>{text}</span>" if tip else text


def io_access_text(qualification: int) -> str:
    """An I/O exit's qualification by field (SDM vol. 3C, table 28-5): ``OUT port=0xf4 size 1``."""
    io = decode_io(qualification)
    parts = ["IN" if io.is_in else "OUT",
             tr("port={port}").format(port=f"{io.port:#x}") if io.immediate else
             f"dx={io.port:#x}",
             tr("size {size}").format(size=io.size)]
    if io.string:
        parts.append(tr("string"))
    if io.rep:
        parts.append("rep")
    return " ".join(parts)


def cr_access_text(qualification: int) -> str:
    """A control-register exit's qualification by field (SDM vol. 3C, table 28-3)."""
    cr = decode_cr(qualification)
    if cr.access_type == 0:
        return tr("MOV to CR{cr} from {register}").format(cr=cr.cr, register=cr.register.upper())
    if cr.access_type == 1:
        return tr("MOV from CR{cr} to {register}").format(cr=cr.cr, register=cr.register.upper())
    if cr.access_type == 2:
        return "CLTS"
    return f"LMSW {cr.lmsw_data:#06x}"


def entry_flags(entry: int, level: str = "PTE") -> list[str]:
    """The flags set in a present PDE/PTE after P (W, U, A, D, 4M: Intel's bit names)."""
    flags = [n for bit, n in ((RW, "W"), (US, "U"), (A, "A"), (D, "D")) if entry & bit]
    if level == "PDE" and entry & PS:
        flags.append("4M")
    return flags


def entry_words(entry: int, level: str = "PTE") -> str:
    """A PDE/PTE: its frame and flags."""
    if not entry & P:
        return tr("not present")
    return tr("frame {frame} {flags}").format(frame=f"{entry & FRAME:#010x}",
                                             flags=" ".join(["P", *entry_flags(entry, level)]))


def error_code_words(code: int) -> str:
    """A page-fault error code in words (SDM vol. 3, 4.7)."""
    return tr("{present}, {access}, {mode}").format(
        present=tr("protection violation") if code & 1 else tr("not present"),
        access=tr("write") if code & 2 else tr("read"),
        mode=tr("user mode") if code & 4 else tr("supervisor mode"))


#: What the monitor did about each kind of page fault.
FAULT_KINDS = {"hidden": N_("hidden fault: the monitor filled its shadow"),
               "true": N_("true fault: injected into the guest as #PF"),
               "pt_write": N_("page-table write: the shadows built from that frame were dropped")}


def fault_text(fault) -> str:
    """A page fault the monitor saw (a ``FaultRecord``), in one line."""
    what = tr(FAULT_KINDS[fault.kind]) if fault.kind in FAULT_KINDS else fault.kind
    return tr("{address} ({error}) at EIP {eip}: {what}").format(
        address=f"{fault.linear:#010x}", error=error_code_words(fault.error_code),
        eip=f"{fault.eip:#010x}", what=what)


#: How an address reaches memory (``Translation.mechanism``).
MECHANISMS = {"none (paging off)": N_("none (paging off)"),
              "guest page tables": N_("guest page tables"),
              "shadow page tables": N_("shadow page tables"),
              "EPT": "EPT", "guest page tables + EPT": N_("guest page tables + EPT"),
              "direct paging (PV, validated)": N_("direct paging (PV, validated)")}


def mechanism(name: str) -> str:
    """A ``Translation.mechanism`` in the current language."""
    return tr(MECHANISMS[name]) if name in MECHANISMS else name


def translation_lines(t) -> list[str]:
    """A :class:`vlab.translation.Translation` as text, one level per line (what its
    ``lines()`` says, in the lab's language)."""
    from ..translation import ept_rights

    out = [tr("GVA {address} ({mechanism})").format(address=f"{t.linear:#010x}",
                                                    mechanism=mechanism(t.mechanism))]

    def rows(walk, who: str) -> None:
        for level, address, entry in walk.rows():
            out.append("  " + tr(who).format(level=level, address=f"{address:#010x}",
                                             entry=f"{entry:#010x}",
                                             meaning=entry_words(entry, level)))

    if t.guest is not None:
        rows(t.guest, N_("guest {level} @ {address} = {entry} ({meaning})"))
        if not t.guest.ok:
            out.append("  " + tr("guest walk faults: {error}").format(
                error=error_code_words(t.guest.error_code)))
    if t.gpa is not None:
        out.append(f"  GPA {t.gpa:#010x}")
    if t.shadow is not None:
        rows(t.shadow, N_("shadow {level} @ {address} = {entry} ({meaning})"))
        if not t.shadow.ok:
            out.append("  " + tr("not in the shadow yet: the next access is a hidden fault"))
    if t.ept is not None:
        g, hpa, p = t.ept
        out.append(f"  EPT {g:#010x} -> {hpa:#010x} ({ept_rights(p) or '-'})")
    elif t.mechanism == "EPT" and t.gpa is not None:
        out.append("  " + tr("EPT: not mapped (the next access is an EPT violation)"))
    if t.hpa is not None:
        out.append(f"  HPA {t.hpa:#010x}")
    return out


#: What the translator's inline emulation does (vlab.monitor.translator.INLINE), and how it
#: reads a segment or control register: its notes, translated where they are shown.
INLINE_NOTES = (N_("virtual IF := 0"), N_("virtual IF := 1"),
                N_("push EFLAGS with the virtual IF and IOPL"),
                N_("pop into EFLAGS, IF and IOPL into the virtual ones"),
                N_("the virtual CR0's low 16 bits"), N_("store the virtual GDTR"),
                N_("store the virtual IDTR"), N_("the virtual LDTR"), N_("the virtual TR"))
_NOTE_PATTERNS = ((re.compile(r"push the guest's (\w+) selector$"),
                   N_("push the guest's {register} selector")),
                  (re.compile(r"the guest's (\w+) selector$"), N_("the guest's {register} selector")),
                  (re.compile(r"the virtual (CR\d)$"), N_("the virtual {register}")))


def inline_note(note: str) -> str:
    """What an inline emulation does (the translator's note), in the current language."""
    if note in INLINE_NOTES:
        return tr(note)
    for pattern, message in _NOTE_PATTERNS:
        found = pattern.match(note)
        if found:
            return tr(message).format(register=found.group(1))
    return note


def translated_form(text: str) -> str:
    """The translator's note on one instruction (``inline: virtual IF := 0``, ``callout ->
    hlt``, ``as is``) in the current language; mnemonics and registers as they are."""
    if text in (N_("as is"), N_("lookup of the target")):
        return tr(text)
    if text.startswith("callout -> "):
        mnemonic = text[len("callout -> "):]
        if mnemonic.endswith(" (device model)"):
            return tr("callout -> {mnemonic} (device model)").format(
                mnemonic=mnemonic[:-len(" (device model)")])
        return tr("callout -> {mnemonic}").format(mnemonic=mnemonic)
    if text.startswith("inline: "):
        return tr("inline: {note}").format(note=inline_note(text[len("inline: "):]))
    return text


#: How the monitor names work that runs no handler of the table (the trap log's "handler").
HANDLER_NAMES = (N_("shadow pager (adaptive translation)"),)


def handler_name(name: str) -> str:
    """An exit's handler: a function's name as it is, the monitor's own work translated."""
    return tr(name) if name in HANDLER_NAMES else name


#: The names of the counters and records lower layers hand the views (memory_summary(),
#: translation_stats(), interrupt_state(), Exit.row(), guest_view()): shown translated.
#: A name missing here is shown as it is (tests/test_i18n_views.py finds any the labs show).
COUNTER_NAMES = (
    # the MMU (shadow paging, EPT, paravirtual page tables)
    N_("shadow page directories"), N_("shadow page tables"), N_("active guest CR3"),
    N_("cr3_loads"), N_("shadow_misses"), N_("hidden_faults"), N_("shadow_syncs"),
    N_("true_faults"), N_("pt_write_traps"), N_("shadow_drops"), N_("shadow_hits"),
    N_("invlpg"), N_("EPT pages mapped"), N_("EPT violations"), N_("pinned page directories"),
    N_("page tables"), N_("pin_l2_table"), N_("new_baseptr"), N_("page-table updates"),
    N_("page_faults"), N_("invlpg_local"), N_("unpin_table"), N_("fast_trap"),
    N_("fast_traps"),
    # the translation cache
    N_("blocks"), N_("translated"), N_("hits"), N_("misses"), N_("invalidated"),
    N_("callouts"), N_("inline"),
    # one exit (Exit.row()) and its detail
    N_("reason"), N_("eip"), N_("strategy"), N_("cpl"), N_("instruction"), N_("raw"),
    N_("qualification"), N_("handler"), N_("cost"), N_("index"), N_("detail"), N_("kind"),
    N_("reason_number"), N_("qualification (decoded)"), N_("value"), N_("delivered"),
    N_("decoded_by"), N_("decoded"), N_("via"), N_("number"), N_("hypercall"), N_("args"),
    N_("calls"), N_("count"), N_("level"), N_("vector"), N_("error_code"), N_("event"),
    N_("frame"), N_("size"), N_("written"), N_("emulated"), N_("page_fault"), N_("intr_info"),
    N_("software"), N_("gpa"), N_("linear"), N_("access"),
    # an EPT violation's qualification, decoded (vlab.strategies.vtx.ept)
    N_("read"), N_("write"), N_("fetch"), N_("readable"), N_("writable"), N_("executable"),
    N_("linear_valid"), N_("final_translation"),
    # a counter that is a switch (paravirt's fast_trap)
    N_("True"), N_("False"),
    # the binary translator's shadow pager (pt_writes_prepared), paravirt's event mask
    N_("pt_writes_prepared"), N_("event_mask"), N_("cr2"), N_("fault"),
    # a guest hypervisor's VM entry that failed (vlab.strategies.vtx.nonroot)
    N_("VM-entry failure"), N_("exit reason"),
)
