"""What every strategy has: a name, the ring the guest kernel really runs in, and attach()."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vlab.hw.machine import Machine
    from vlab.monitor.trace import TrapLog


class Strategy:
    """Base class: configures a machine for one way of running the guest."""

    name = "strategy"
    title = "strategy"
    kernel_ring = 0  # the CPL the guest kernel really runs at on the core
    monitor = "none"  # where the monitor runs: "none", "ring 0", "VMX root"
    #: What this strategy has that a Lab or a view may show (declared, never guessed):
    #: "virtual_cpu", "translation_cache", "vmcs", "shadow_paging", "ept", "hypercalls".
    capabilities: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.machine: Machine | None = None
        self.trace: TrapLog | None = None

    def attach(self, machine: Machine, trace: TrapLog) -> None:
        """Take over the machine's event callbacks (called once, before the guest runs)."""
        self.machine = machine
        self.trace = trace
        machine.exit_listeners.append(trace.record)

    def boot(self) -> None:
        """Put the guest at its entry point in the state this strategy runs it in."""

    def guest_view(self) -> dict:
        """What the guest believes about itself (CPL, IF ...), for the lab's state view."""
        m = self.machine
        return {"cpl": m.cpl(), "IF": m.real_if()}
