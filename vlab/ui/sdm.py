"""What the SDM calls each bit of the VMCS words the VMCS tab shows, so a value is read beside
its meaning ("0x91000080: HLT exiting, unconditional I/O exiting, use MSR bitmaps, activate
secondary controls") instead of decoded by hand.

Control bits: Intel SDM vol. 3C, 25.6 "VM-execution control fields" (24.6 in editions before
2023): table 25-5 pin-based, 25-6 primary processor-based, 25-7 secondary processor-based;
25.7.1 / table 25-13 VM-exit controls, 25.8.1 / table 25-15 VM-entry controls. Exit
qualifications: 28.2.1 (tables 28-3 CR access, 28-5 I/O, 28-7 EPT violation). Interruption
information: 25.9.2 (exit) and 25.8.3 (entry). Exit reasons: appendix C. This is display text
only: which controls vlab models, and what they do, is the VT-x strategy's (``lab.vmcs``).
"""

from __future__ import annotations

from ..i18n import N_, tr
from ..monitor.trace import ExitReason
from .words import cr_access_text, io_access_text

PIN_BASED = {0: N_("external-interrupt exiting"), 3: N_("NMI exiting"), 5: N_("virtual NMIs"),
             6: N_("activate VMX-preemption timer"), 7: N_("process posted interrupts")}
PRIMARY = {2: N_("interrupt-window exiting"), 3: N_("use TSC offsetting"), 7: N_("HLT exiting"),
           9: N_("INVLPG exiting"), 10: N_("MWAIT exiting"), 11: N_("RDPMC exiting"), 12: N_("RDTSC exiting"),
           15: N_("CR3-load exiting"), 16: N_("CR3-store exiting"), 17: N_("activate tertiary controls"),
           19: N_("CR8-load exiting"), 20: N_("CR8-store exiting"), 21: N_("use TPR shadow"),
           22: N_("NMI-window exiting"), 23: N_("MOV-DR exiting"), 24: N_("unconditional I/O exiting"),
           25: N_("use I/O bitmaps"), 27: N_("monitor trap flag"), 28: N_("use MSR bitmaps"),
           29: N_("MONITOR exiting"), 30: N_("PAUSE exiting"), 31: N_("activate secondary controls")}
SECONDARY = {0: N_("virtualize APIC accesses"), 1: N_("enable EPT"), 2: N_("descriptor-table exiting"),
             3: N_("enable RDTSCP"), 4: N_("virtualize x2APIC mode"), 5: N_("enable VPID"),
             6: N_("WBINVD exiting"), 7: N_("unrestricted guest"), 8: N_("APIC-register virtualization"),
             9: N_("virtual-interrupt delivery"), 10: N_("PAUSE-loop exiting"), 11: N_("RDRAND exiting"),
             12: N_("enable INVPCID"), 13: N_("enable VM functions"), 14: N_("VMCS shadowing"),
             15: N_("enable ENCLS exiting"), 16: N_("RDSEED exiting"), 17: N_("enable PML"),
             18: N_("EPT-violation #VE"), 19: N_("conceal VMX from PT"), 20: N_("enable XSAVES/XRSTORS"),
             22: N_("mode-based execute control for EPT"), 25: N_("use TSC scaling")}
EXIT_CONTROLS = {2: N_("save debug controls"), 9: N_("host address-space size"),
                 12: N_("load IA32_PERF_GLOBAL_CTRL"), 15: N_("acknowledge interrupt on exit"),
                 18: N_("save IA32_PAT"), 19: N_("load IA32_PAT"), 20: N_("save IA32_EFER"),
                 21: N_("load IA32_EFER"), 22: N_("save VMX-preemption timer value")}
ENTRY_CONTROLS = {2: N_("load debug controls"), 9: N_("IA-32e mode guest"), 10: N_("entry to SMM"),
                  11: N_("deactivate dual-monitor treatment"), 13: N_("load IA32_PERF_GLOBAL_CTRL"),
                  14: N_("load IA32_PAT"), 15: N_("load IA32_EFER")}
CR0_BITS = {0: "PE", 1: "MP", 2: "EM", 3: "TS", 4: "ET", 5: "NE", 16: "WP", 18: "AM", 29: "NW",
            30: "CD", 31: "PG"}
CR4_BITS = {0: "VME", 1: "PVI", 2: "TSD", 3: "DE", 4: "PSE", 5: "PAE", 6: "MCE", 7: "PGE",
            8: "PCE", 9: "OSFXSR", 10: "OSXMMEXCPT", 11: "UMIP", 13: "VMXE", 14: "SMXE",
            16: "FSGSBASE", 17: "PCIDE", 18: "OSXSAVE", 20: "SMEP", 21: "SMAP"}
EXCEPTIONS = {0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM",
              8: "#DF", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF", 16: "#MF",
              17: "#AC", 18: "#MC", 19: "#XM", 20: "#VE", 21: "#CP"}
INTERRUPTION_TYPES = {0: N_("external interrupt"), 2: N_("NMI"), 3: N_("hardware exception"),
                      4: N_("software interrupt"), 5: N_("privileged software exception"),
                      6: N_("software exception"), 7: N_("other event")}
#: Which table names the bits of each control word.
CONTROL_WORDS = {"PIN_BASED_VM_EXEC_CONTROL": PIN_BASED, "CPU_BASED_VM_EXEC_CONTROL": PRIMARY,
                 "SECONDARY_VM_EXEC_CONTROL": SECONDARY, "VM_EXIT_CONTROLS": EXIT_CONTROLS,
                 "VM_ENTRY_CONTROLS": ENTRY_CONTROLS}
_EPT_VIOLATION = {0: N_("read"), 1: N_("write"), 2: N_("instruction fetch"), 3: N_("GPA readable"),
                  4: N_("GPA writable"), 5: N_("GPA executable"), 7: N_("guest linear address valid"),
                  8: N_("access to the translation (not a paging structure)")}


def bit_names(value: int, names: dict[int, str]) -> list[str]:
    """The names of the bits set in ``value`` (an unnamed bit as ``bit n``), in the current
    language (Intel's mnemonics, CR0's PE or #PF, are the same in every language)."""
    return [tr(names[b]) if b in names else tr("bit {n}").format(n=b)
            for b in range(32) if value >> b & 1]


def interruption_info(value: int) -> str:
    """An interruption-information field: vector, type, error code valid, valid (bit 31)."""
    if not value >> 31 & 1:
        return tr("not valid (no event)")
    vector, kind = value & 0xFF, (value >> 8) & 7
    name = EXCEPTIONS.get(vector, "") if kind in (3, 5, 6) else ""
    what = (tr(INTERRUPTION_TYPES[kind]) if kind in INTERRUPTION_TYPES
            else tr("type {n}").format(n=kind))
    message = (N_("vector {vector}, {type}, error code valid") if value >> 11 & 1 else
               N_("vector {vector}, {type}"))
    return tr(message).format(vector=f"{vector:#x}" + (f" {name}" if name else ""), type=what)


def exit_reason(value: int) -> str:
    """A basic exit reason (bits 15:0) by its appendix-C name."""
    basic = value & 0xFFFF
    try:
        return tr("{name} (basic reason {number})").format(name=ExitReason(basic).name,
                                                          number=basic)
    except ValueError:
        return tr("basic reason {number}").format(number=basic)


def reason_name(value: int) -> str:
    """The Intel name of the basic exit reason in ``value`` ("" if vlab knows none)."""
    try:
        return ExitReason(value & 0xFFFF).name
    except ValueError:
        return ""


def qualification(value: int, reason: int) -> str:
    """An exit qualification decoded for the exit reason it belongs to."""
    basic = reason & 0xFFFF
    if basic == ExitReason.CR_ACCESS:
        return cr_access_text(value)
    if basic == ExitReason.IO_INSTRUCTION:
        return io_access_text(value)
    if basic == ExitReason.EPT_VIOLATION:
        return ", ".join(tr(n) for b, n in _EPT_VIOLATION.items() if value >> b & 1) or "-"
    if basic in (ExitReason.INVLPG, ExitReason.EXCEPTION_NMI) and value:
        return tr("linear address {address}").format(address=f"{value:#010x}")
    return ""


def meaning(name: str, value: int, reason: int = 0) -> str:
    """What a VMCS field's value means, in the SDM's words (empty when it speaks for itself)."""
    if name in CONTROL_WORDS:
        return ", ".join(bit_names(value, CONTROL_WORDS[name])) or tr("none set")
    if name == "EXCEPTION_BITMAP":
        if not value:
            return tr("no exception exits")
        vectors = ", ".join(EXCEPTIONS.get(b) or tr("vector {n}").format(n=b) for b in range(32)
                            if value >> b & 1)
        return tr("exit on {vectors}").format(vectors=vectors)
    if name.startswith("CR0_") or name in ("GUEST_CR0", "HOST_CR0"):
        return " ".join(bit_names(value, CR0_BITS))
    if name.startswith("CR4_") or name in ("GUEST_CR4", "HOST_CR4"):
        return " ".join(bit_names(value, CR4_BITS))
    if name == "VM_EXIT_REASON":
        return exit_reason(value)
    if name == "EXIT_QUALIFICATION":
        return qualification(value, reason)
    if name in ("VM_EXIT_INTR_INFO", "VM_ENTRY_INTR_INFO_FIELD", "IDT_VECTORING_INFO_FIELD"):
        return interruption_info(value)
    if name == "EPT_POINTER" and value:
        types = {0: N_("uncacheable"), 6: N_("write-back")}
        kind = tr(types[value & 7]) if value & 7 in types else str(value & 7)
        text = tr("memory type {type} ({number}), {levels}-level walk").format(
            type=kind, number=value & 7, levels=((value >> 3) & 7) + 1)
        if value & ~0xFFF:
            return tr("PML4 at {address}, {rest}").format(address=f"{value & ~0xFFF:#010x}",
                                                         rest=text)
        return text
    return ""
