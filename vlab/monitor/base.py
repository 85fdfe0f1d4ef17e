"""What every strategy has: a name, the ring the guest kernel really runs in, and attach()."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlab.events import Signal
from vlab.hw import paging

if TYPE_CHECKING:
    from vlab.hw.machine import Machine
    from vlab.monitor.trace import TrapLog


class Strategy:
    """Base class: configures a machine for one way of running the guest."""

    name = "strategy"
    title = "strategy"
    kernel_ring = 0  # the CPL the guest kernel really runs at on the core
    monitor_runs_in = "none"  # where the monitor runs: "none", "ring 0", "VMX root"
    #: What this strategy has that a Lab or a view may show (declared, never guessed):
    #: "virtual_cpu", "translation_cache", "vmcs", "shadow_paging", "ept", "hypercalls".
    capabilities: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.machine: Machine | None = None
        self.trace: TrapLog | None = None
        #: Every exit, once recorded (the Lab and the grader observe it).
        self.exit_recorded: Signal[Any] = Signal("exit_recorded")
        #: Exit reasons after which a run stops (Bochs' ``vmexitbp``).
        self.exit_breakpoints: set = set()

    def attach(self, machine: Machine, trace: TrapLog) -> None:
        """Configure the machine for this strategy (called once, before the guest runs)."""
        self.machine = machine
        self.trace = trace

    def report_exit(self, exit_, outcome=None) -> None:
        """One exit into the monitor, complete: trace it (with what handling it did), tell
        observers, stop if asked."""
        if outcome is None:
            self.trace.record(exit_)
        else:
            self.trace.record(exit_, outcome)
        if self.exit_recorded._observers:  # noqa: SLF001 (the emit's own test, inline: per exit)
            self.exit_recorded.emit(exit_)
        if self.exit_breakpoints and exit_.reason in self.exit_breakpoints:
            self.machine.clock.request_stop("exit", exit_)

    #: What a monitor keeps (None here: no monitor): its virtual CPU, and under VT-x the VMCS.
    vcpu = None
    vmcs = None
    handlers = None  # the handler table (a monitor's)

    @property
    def translations(self) -> list:
        """Translated blocks (a strategy with a translation cache overrides this)."""
        return []

    def page_faults(self) -> list:
        """The page faults the monitor saw (kind hidden / true / pt_write), most recent last."""
        return []

    def memory_summary(self) -> dict:
        """The monitor's MMU counters (shadow page tables, EPT, paravirtual page tables)."""
        return {}

    def page_tables(self, limit: int = 24) -> dict[str, list[tuple[int, int, int]]]:
        """Present 4 KiB mappings (linear page, entry, frame): here the guest's own tables, which
        the core walks as they are."""
        m = self.machine
        if not m.cpu.reg("cr0") & paging.PG:
            return {}
        return {"guest": paging.mapped_pages(m.memory.table_u32, m.cpu.reg("cr3"), limit)}

    def boot(self) -> None:
        """Put the guest at its entry point in the state this strategy runs it in."""

    def guest_view(self) -> dict:
        """What the guest believes about itself (CPL, IF ...), for the lab's state view."""
        m = self.machine
        return {"cpl": m.cpu.cpl(), "IF": m.cpu.real_if()}
