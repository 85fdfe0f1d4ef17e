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

from ..monitor.qualification import decode_cr, decode_io
from ..monitor.trace import ExitReason

PIN_BASED = {0: "external-interrupt exiting", 3: "NMI exiting", 5: "virtual NMIs",
             6: "activate VMX-preemption timer", 7: "process posted interrupts"}
PRIMARY = {2: "interrupt-window exiting", 3: "use TSC offsetting", 7: "HLT exiting",
           9: "INVLPG exiting", 10: "MWAIT exiting", 11: "RDPMC exiting", 12: "RDTSC exiting",
           15: "CR3-load exiting", 16: "CR3-store exiting", 17: "activate tertiary controls",
           19: "CR8-load exiting", 20: "CR8-store exiting", 21: "use TPR shadow",
           22: "NMI-window exiting", 23: "MOV-DR exiting", 24: "unconditional I/O exiting",
           25: "use I/O bitmaps", 27: "monitor trap flag", 28: "use MSR bitmaps",
           29: "MONITOR exiting", 30: "PAUSE exiting", 31: "activate secondary controls"}
SECONDARY = {0: "virtualize APIC accesses", 1: "enable EPT", 2: "descriptor-table exiting",
             3: "enable RDTSCP", 4: "virtualize x2APIC mode", 5: "enable VPID",
             6: "WBINVD exiting", 7: "unrestricted guest", 8: "APIC-register virtualization",
             9: "virtual-interrupt delivery", 10: "PAUSE-loop exiting", 11: "RDRAND exiting",
             12: "enable INVPCID", 13: "enable VM functions", 14: "VMCS shadowing",
             15: "enable ENCLS exiting", 16: "RDSEED exiting", 17: "enable PML",
             18: "EPT-violation #VE", 19: "conceal VMX from PT", 20: "enable XSAVES/XRSTORS",
             22: "mode-based execute control for EPT", 25: "use TSC scaling"}
EXIT_CONTROLS = {2: "save debug controls", 9: "host address-space size",
                 12: "load IA32_PERF_GLOBAL_CTRL", 15: "acknowledge interrupt on exit",
                 18: "save IA32_PAT", 19: "load IA32_PAT", 20: "save IA32_EFER",
                 21: "load IA32_EFER", 22: "save VMX-preemption timer value"}
ENTRY_CONTROLS = {2: "load debug controls", 9: "IA-32e mode guest", 10: "entry to SMM",
                  11: "deactivate dual-monitor treatment", 13: "load IA32_PERF_GLOBAL_CTRL",
                  14: "load IA32_PAT", 15: "load IA32_EFER"}
CR0_BITS = {0: "PE", 1: "MP", 2: "EM", 3: "TS", 4: "ET", 5: "NE", 16: "WP", 18: "AM", 29: "NW",
            30: "CD", 31: "PG"}
CR4_BITS = {0: "VME", 1: "PVI", 2: "TSD", 3: "DE", 4: "PSE", 5: "PAE", 6: "MCE", 7: "PGE",
            8: "PCE", 9: "OSFXSR", 10: "OSXMMEXCPT", 11: "UMIP", 13: "VMXE", 14: "SMXE",
            16: "FSGSBASE", 17: "PCIDE", 18: "OSXSAVE", 20: "SMEP", 21: "SMAP"}
EXCEPTIONS = {0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM",
              8: "#DF", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF", 16: "#MF",
              17: "#AC", 18: "#MC", 19: "#XM", 20: "#VE", 21: "#CP"}
INTERRUPTION_TYPES = {0: "external interrupt", 2: "NMI", 3: "hardware exception",
                      4: "software interrupt", 5: "privileged software exception",
                      6: "software exception", 7: "other event"}
#: Which table names the bits of each control word.
CONTROL_WORDS = {"PIN_BASED_VM_EXEC_CONTROL": PIN_BASED, "CPU_BASED_VM_EXEC_CONTROL": PRIMARY,
                 "SECONDARY_VM_EXEC_CONTROL": SECONDARY, "VM_EXIT_CONTROLS": EXIT_CONTROLS,
                 "VM_ENTRY_CONTROLS": ENTRY_CONTROLS}
_EPT_VIOLATION = {0: "read", 1: "write", 2: "instruction fetch", 3: "GPA readable",
                  4: "GPA writable", 5: "GPA executable", 7: "guest linear address valid",
                  8: "access to the translation (not a paging structure)"}


def bit_names(value: int, names: dict[int, str]) -> list[str]:
    """The names of the bits set in ``value`` (an unnamed bit as ``bit n``)."""
    return [names.get(b, f"bit {b}") for b in range(32) if value >> b & 1]


def interruption_info(value: int) -> str:
    """An interruption-information field: vector, type, error code valid, valid (bit 31)."""
    if not value >> 31 & 1:
        return "not valid (no event)"
    vector, kind = value & 0xFF, (value >> 8) & 7
    name = EXCEPTIONS.get(vector, "") if kind in (3, 5, 6) else ""
    return (f"vector {vector:#x}{' ' + name if name else ''}, "
            f"{INTERRUPTION_TYPES.get(kind, f'type {kind}')}"
            + (", error code valid" if value >> 11 & 1 else ""))


def exit_reason(value: int) -> str:
    """A basic exit reason (bits 15:0) by its appendix-C name."""
    basic = value & 0xFFFF
    try:
        return f"{ExitReason(basic).name} (basic reason {basic})"
    except ValueError:
        return f"basic reason {basic}"


def qualification(value: int, reason: int) -> str:
    """An exit qualification decoded for the exit reason it belongs to."""
    basic = reason & 0xFFFF
    if basic == ExitReason.CR_ACCESS:
        return str(decode_cr(value))
    if basic == ExitReason.IO_INSTRUCTION:
        return str(decode_io(value))
    if basic == ExitReason.EPT_VIOLATION:
        return ", ".join(n for b, n in _EPT_VIOLATION.items() if value >> b & 1) or "-"
    if basic in (ExitReason.INVLPG, ExitReason.EXCEPTION_NMI) and value:
        return f"linear address {value:#010x}"
    return ""


def meaning(name: str, value: int, reason: int = 0) -> str:
    """What a VMCS field's value means, in the SDM's words (empty when it speaks for itself)."""
    if name in CONTROL_WORDS:
        return ", ".join(bit_names(value, CONTROL_WORDS[name])) or "none set"
    if name == "EXCEPTION_BITMAP":
        return ("exit on " + ", ".join(EXCEPTIONS.get(b, f"vector {b}") for b in range(32)
                                       if value >> b & 1)) if value else "no exception exits"
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
        types = {0: "uncacheable", 6: "write-back"}
        table = f"PML4 at {value & ~0xFFF:#010x}, " if value & ~0xFFF else ""
        return (f"{table}memory type {types.get(value & 7, value & 7)} ({value & 7}), "
                f"{((value >> 3) & 7) + 1}-level walk")
    return ""
