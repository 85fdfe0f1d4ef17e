"""Native: the guest kernel at ring 0 on the core, no monitor. The reference behaviour.

Interrupts and exceptions go through the guest's own IDT (delivered by the machine exactly as the
CPU would), port I/O goes straight to the devices, and nothing ever reaches a monitor: the trace of
a native run is empty by definition.
"""

from __future__ import annotations

from vlab.hw.checks import CR4_SUPPORTED
from vlab.hw.vmx import VmxUnit
from vlab.monitor.base import Strategy


class Native(Strategy):
    name = "native"
    title = "native (no monitor)"
    kernel_ring = 0
    monitor_runs_in = "none"

    #: What runs a guest hypervisor's guest in VMX non-root operation: the VT-x chapter's model
    #: (``vlab.strategies.vtx.nonroot.NonRoot``), given by :mod:`vlab.strategies` so that the
    #: chapters stay independent. None: the machine offers no VMX (VMXON is #UD).
    nonroot: type | None = None

    def attach(self, machine, trace) -> None:
        """The bare machine, with the VMX a VT-x processor offers its software (a guest may be
        a hypervisor: :mod:`vlab.hw.vmx`)."""
        super().attach(machine, trace)
        if self.nonroot is None:
            return
        machine.vmx = unit = VmxUnit(machine, None, CR4_SUPPORTED)
        unit.driver = self.nonroot(unit, self)
        unit.driver.attach(machine, trace)
        machine.attach_state("vmx", unit)
