"""Trap-and-emulate with ring compression: the classical VMM, and why x86 defeats it.

The monitor runs in ring 0 and the unmodified guest kernel in ring 1 (its user tasks stay in
ring 3). Every *privileged* instruction the kernel executes (CLI, STI, HLT, MOV CR, LGDT, LIDT,
LTR, RDMSR, WRMSR, INVLPG, IRET to what it believes is ring 0 ...) faults with #GP on the core;
the fault reaches the monitor as an Exit, and a handler emulates the instruction on the
*virtual* CPU. Port I/O traps too (CPL 1 > IOPL 0). Interrupts and exceptions the guest should
see are reflected into its own IDT with ``vcpu.inject``, and the timer is delivered only while
the *virtual* IF is set.

Popek and Goldberg (1974): this works if every sensitive instruction is privileged. On IA-32 it is
not (Robin & Irvine, 2000): PUSHF shows the real IF, POPF silently ignores IF at CPL 1, SMSW, SGDT,
SIDT, SLDT and STR show the monitor's registers, ``mov eax, cs`` shows CPL 1, LAR/LSL/VERR/VERW
judge the real descriptors. None of them trap, so this strategy runs the kernel, but not
faithfully: the holes are visible in its report, exactly where the kernel uses them.
"""

from __future__ import annotations

from vlab.monitor.dispatch import SoftwareMonitor


class TrapAndEmulate(SoftwareMonitor):
    name = "trap_emulate"
    title = "trap-and-emulate (ring compression)"
